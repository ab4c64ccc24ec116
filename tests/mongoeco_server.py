"""Run mongoeco's MongoDB wire-protocol server (in memory) on a loopback port until SIGTERM.

Needs Python >= 3.13 and ``mongoeco[wire]`` (the .venv-mongoeco made by ``make``);
prints the connection string on stdout once it accepts connections. Not a test module.
Usage: ``.venv-mongoeco/bin/python tests/mongoeco_server.py [PORT]``
"""

import asyncio
import signal
import sys

from mongoeco.engines.memory import MemoryEngine
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer


async def main(port: int) -> None:
    proxy = AsyncMongoEcoProxyServer(engine=MemoryEngine(), host="127.0.0.1", port=port)
    await proxy.start()
    print(proxy.address.uri, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await proxy.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
