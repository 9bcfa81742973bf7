"""The merchant portal: server-rendered pages for one merchant, opened through a one-time link.

Every page reads and writes through the External services, like the REST API, and only ever
for the merchant of the browser's session (see `gateway.portal.access`).
"""
