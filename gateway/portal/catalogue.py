"""Event types: the catalogue merchants subscribe endpoints to, from the registry `/openapi.json` uses."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.portal.access import Visit
from gateway.portal.render import pretty_json
from gateway.portal.site import Site
from gateway.schemas.notifications import NOTIFICATION_TYPES


@dataclass(frozen=True, slots=True)
class Shown:
    name: str
    anchor: str
    description: str
    schema: str
    example: str


class CataloguePages:
    def __init__(self, site: Site) -> None:
        self.site = site
        # Written out once: the registry does not change while the app runs.
        self.types = [
            Shown(
                name=kind.event_type.value,
                anchor=kind.event_type.value.replace(".", "-"),
                description=kind.description,
                schema=pretty_json(kind.schema()),
                example=pretty_json(kind.example),
            )
            for kind in NOTIFICATION_TYPES.values()
        ]

    def routes(self) -> list[Route]:
        return [Route("/event-types", self.site.page(self.event_types), methods=["GET"])]

    async def event_types(self, _: Request, visit: Visit) -> Response:
        return self.site.pages.render(
            "event_types.html",
            visit,
            title="Event types",
            section="Event types",
            types=self.types,
        )
