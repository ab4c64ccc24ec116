"""The built-in authorization server's HTML: the login form and the error page. Plain HTML, every value
escaped, no script and no external asset; never framed, never cached."""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_STYLE = (
    "body{font-family:sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}"
    "label,input,button{display:block;width:100%;margin:.4rem 0;box-sizing:border-box}"
    "input,button{padding:.5rem}.error{color:#a00}.actions{display:flex;gap:.5rem}"
)


def login_page(
    action: str,
    params: list[tuple[str, str]],
    client_name: str,
    scope: str,
    error: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The form that POSTs the authorization request's parameters back to ``action`` with the
    username and password (or ``action=deny``); ``status`` 429 (with ``Retry-After`` in ``headers``)
    when the login is locked out."""
    hidden = "".join(f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in params)
    scopes = "".join(f"<li><code>{escape(item)}</code></li>" for item in scope.split())
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        f"<h1>Sign in</h1><p><strong>{escape(client_name)}</strong> asks for access to:</p><ul>{scopes}</ul>"
        f'{message}<form method="post" action="{escape(action)}">{hidden}'
        '<label for="username">Username</label>'
        '<input id="username" name="username" autocomplete="username" required autofocus>'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" required>'
        '<div class="actions"><button type="submit" name="action" value="login">Sign in</button>'
        '<button type="submit" name="action" value="deny" formnovalidate>Cancel</button></div></form>'
    )
    response = _page("Sign in", body, status)
    response.headers.update(headers or {})
    return response


def error_page(status: int, error: str, description: str) -> HTMLResponse:
    """Shown instead of redirecting when the client or its redirect URI cannot be trusted
    (RFC 6749 section 4.1.2.1)."""
    body = f"<h1>Authorization failed</h1><p><code>{escape(error)}</code></p><p>{escape(description)}</p>"
    return _page("Authorization failed", body, status)


def _page(title: str, body: str, status: int) -> HTMLResponse:
    html = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
        f"<body>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
