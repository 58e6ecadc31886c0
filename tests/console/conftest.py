from tests.audit.query_fixtures import api
from tests.console.browser import browser, console, context, page

__all__ = ["api", "browser", "console", "context", "page"]
