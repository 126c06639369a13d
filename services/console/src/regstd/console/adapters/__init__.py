"""The console's ways out: the services' HTTP APIs (httpx) and the local token book."""
