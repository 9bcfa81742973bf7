"""Request and response bodies of the HTTP interface, defined once as msgspec Structs.

One module per resource. The same Structs validate what comes in, encode what goes out
and describe both in `GET /openapi.json`.
"""
