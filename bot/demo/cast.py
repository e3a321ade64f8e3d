"""The demo's organisation: three communities of practice of a few towns, and 40 people.

Each person has a name, a Slack locale (French or English) and a posting pattern over six months:
the founders and moderators (the core group), members who post from the start, newcomers who join
later and lurk a few weeks before they contribute, and a few who only read. One community thrives, one
keeps going while its core group goes quiet, one stalls after two busy months.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Community:
    key: str
    name: str
    domain: str
    channel_id: str
    channel_name: str
    language: str
    timezone: str
    creator: str
    moderators: tuple[str, ...]
    objectives: tuple[str, ...]
    cadence_weeks: int  # reviews every so many weeks
    quiet_core_from: int | None = None  # the day its moderators stop posting
    stalls_from: int | None = None  # the day its activity falls to a trickle


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    locale: str
    tz: str
    community: str  # a Community.key
    joins_on: int = 0  # day of the demo they join (0: at the start)
    lurks_for: int = 0  # days they only read after joining
    rate: float = 0.22  # chance of posting on a working day once they contribute
    joins_by: str = "command"  # "command" (/cdp join) or "channel" (joins the Slack channel)

    @property
    def lang(self) -> str:
        return "fr" if self.locale.startswith("fr") else "en"


COMMUNITIES = (
    Community(
        key="streets",
        name="Rues partagées",
        domain="Comment rendre nos rues plus sûres pour les enfants qui vont à l'école à pied ou à vélo ?",
        channel_id="CSTREETS",
        channel_name="cdp-rues-partagees",
        language="fr",
        timezone="Europe/Paris",
        creator="UCAMILLE",
        moderators=("UCAMILLE", "UHUGO"),
        objectives=("exchange_information", "test_applications"),
        cadence_weeks=8,
    ),
    Community(
        key="data",
        name="Open Data Guild",
        domain="Publishing municipal data that residents and teams can actually use",
        channel_id="CDATA",
        channel_name="cdp-open-data",
        language="en",
        timezone="Europe/London",
        creator="UGRACE",
        moderators=("UGRACE", "UOLIVER"),
        objectives=("exchange_information", "develop_solutions"),
        cadence_weeks=12,
        quiet_core_from=90,
    ),
    Community(
        key="climate",
        name="Adaptation au climat",
        domain="Adapter nos quartiers aux vagues de chaleur : îlots de fraîcheur, arbres, horaires",
        channel_id="CCLIMATE",
        channel_name="cdp-adaptation-climat",
        language="fr",
        timezone="America/Montreal",
        creator="UMATHIEU",
        moderators=("UMATHIEU", "UEMILY"),
        objectives=("develop_solutions", "change_process"),
        cadence_weeks=8,
        stalls_from=60,
    ),
)


def _p(user_id: str, name: str, locale: str, tz: str, community: str, **pattern: object) -> Person:
    return Person(user_id, name, locale, tz, community, **pattern)  # type: ignore[arg-type]


PARIS, LONDON, MONTREAL, TORONTO = "Europe/Paris", "Europe/London", "America/Montreal", "America/Toronto"

PEOPLE = (
    # Rues partagées: thriving; newcomers arrive every few weeks, lurk, then contribute.
    _p("UCAMILLE", "Camille Martin", "fr-FR", PARIS, "streets", rate=0.35),
    _p("UHUGO", "Hugo Bernard", "fr-FR", PARIS, "streets", rate=0.35),
    _p("ULEA", "Léa Dubois", "fr-FR", PARIS, "streets", joins_on=1),
    _p("UTHOMAS", "Thomas Petit", "fr-FR", PARIS, "streets", joins_on=1, joins_by="channel"),
    _p("USARAH", "Sarah Collins", "en-GB", LONDON, "streets", joins_on=2),
    _p("UINES", "Inès Moreau", "fr-FR", PARIS, "streets", joins_on=2, joins_by="channel"),
    _p("ULUCAS", "Lucas Laurent", "fr-FR", PARIS, "streets", joins_on=3, rate=0.2),
    _p("UCHLOE", "Chloé Garnier", "fr-FR", PARIS, "streets", joins_on=3, joins_by="channel", rate=0.2),
    _p("UNOAH", "Noah Fischer", "en-US", PARIS, "streets", joins_on=21, lurks_for=18),
    _p("UMANON", "Manon Rousseau", "fr-FR", PARIS, "streets", joins_on=36, lurks_for=24, joins_by="channel"),
    _p("UJAMES", "James Whitfield", "en-GB", LONDON, "streets", joins_on=50, lurks_for=15),
    _p("UCLARA", "Clara Fontaine", "fr-FR", PARIS, "streets", joins_on=64, lurks_for=28),
    _p("UARTHUR", "Arthur Lemoine", "fr-FR", PARIS, "streets", joins_on=85, lurks_for=14, joins_by="channel"),
    _p("UZOE", "Zoé Mercier", "fr-FR", PARIS, "streets", joins_on=101, lurks_for=21),
    _p("UPRIYA", "Priya Shah", "en-GB", LONDON, "streets", joins_on=120, lurks_for=16),
    _p("UJULES", "Jules Girard", "fr-FR", PARIS, "streets", joins_on=150, rate=0.0),
    # Open Data Guild: its core group goes quiet after day 80; the members carry on.
    _p("UGRACE", "Grace Hopkins", "en-GB", LONDON, "data", rate=0.35),
    _p("UOLIVER", "Oliver Reid", "en-GB", LONDON, "data", rate=0.35),
    _p("UAMELIA", "Amelia Brooks", "en-GB", LONDON, "data", joins_on=1),
    _p("UDANIEL", "Daniel Hughes", "en-US", TORONTO, "data", joins_on=1, joins_by="channel"),
    _p("USOPHIE", "Sophie Lambert", "fr-FR", PARIS, "data", joins_on=2),
    _p("UETHAN", "Ethan Walker", "en-US", TORONTO, "data", joins_on=2, joins_by="channel", rate=0.25),
    _p("UHANNAH", "Hannah Price", "en-GB", LONDON, "data", joins_on=4, rate=0.2),
    _p("UNATHAN", "Nathan Roux", "fr-FR", PARIS, "data", joins_on=4, joins_by="channel", rate=0.2),
    _p("UISLA", "Isla Morgan", "en-GB", LONDON, "data", joins_on=42, lurks_for=20),
    _p("UMAXIME", "Maxime Faure", "fr-FR", PARIS, "data", joins_on=91, lurks_for=17, joins_by="channel"),
    _p("URUBY", "Ruby Evans", "en-GB", LONDON, "data", joins_on=130, lurks_for=12),
    _p("UOMAR", "Omar Haddad", "fr-FR", PARIS, "data", joins_on=140, rate=0.0),
    # Adaptation au climat: two busy months, then a trickle (it stalls); its late newcomers only read.
    _p("UMATHIEU", "Mathieu Tremblay", "fr-CA", MONTREAL, "climate", rate=0.35),
    _p("UEMILY", "Emily Carter", "en-US", TORONTO, "climate", rate=0.35),
    _p("UGABRIEL", "Gabriel Gagnon", "fr-CA", MONTREAL, "climate", joins_on=1, rate=0.4),
    _p("UOLIVIA", "Olivia Bennett", "en-US", TORONTO, "climate", joins_on=1, joins_by="channel", rate=0.4),
    _p("UELOISE", "Éloïse Roy", "fr-CA", MONTREAL, "climate", joins_on=2, rate=0.35),
    _p("ULIAM", "Liam Murphy", "en-US", TORONTO, "climate", joins_on=2, joins_by="channel", rate=0.35),
    _p("UFELIX", "Félix Côté", "fr-CA", MONTREAL, "climate", joins_on=3, rate=0.3),
    _p("UAVA", "Ava Mitchell", "en-US", TORONTO, "climate", joins_on=3, joins_by="channel", rate=0.3),
    _p("UROSE", "Rose Bouchard", "fr-CA", MONTREAL, "climate", joins_on=5, rate=0.3),
    _p("UWILLIAM", "William Scott", "en-US", TORONTO, "climate", joins_on=5, joins_by="channel", rate=0.3),
    _p("UALICE", "Alice Pelletier", "fr-CA", MONTREAL, "climate", joins_on=72, rate=0.0),
    _p("UBEN", "Ben Taylor", "en-US", TORONTO, "climate", joins_on=105, rate=0.0, joins_by="channel"),
)

BY_ID = {person.user_id: person for person in PEOPLE}
COMMUNITY = {community.key: community for community in COMMUNITIES}
GENERAL = ("CGENERAL", "general")  # where people type their commands
