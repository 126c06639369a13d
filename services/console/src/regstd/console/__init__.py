"""The web console: pages for regulators, partner cities, operators and the public over the three
services' HTTP APIs, called with the signed-in principal's token (decision 0031)."""
