"""The console's pages: module-level routers, server-rendered templates and the console's own styles."""
