"""HTTP adapter of the hub: the local API, its OpenAPI document and the Open311
GeoReport v2 endpoint. aiohttp lives here so that ``hub`` stays free of I/O
frameworks."""
