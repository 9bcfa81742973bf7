"""HTTP gateway: inbound webhooks, the `/v1` REST API and health probes (`app.create_app`)."""
