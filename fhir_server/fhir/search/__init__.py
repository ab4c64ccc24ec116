"""Search: parse once into a backend-neutral query (query.py), each store translates it."""
