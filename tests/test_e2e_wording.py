"""What users read (issue 8, section 5), end to end in English and French: `/cdp me` for founders and
dissolved communities, the first review's figures, "did you mean X?" with a Join button, agreement and
plurals, and the French names of the subcommands."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.reminders import tick
from storage.repositories import activity as activity_repo
from tests.conftest import ALICE, BRUNO, CHLOE, DAVID, Harness
from tests.test_e2e_communities import (
    DOMAIN,
    active_members,
    add_channel,
    create_community,
    dms,
    invited,
    members,
    open_form,
    press_join_suggestion,
    requests,
    say,
    shown,
    submit,
)
from tests.test_e2e_reviews import (
    CHANNEL,
    FIRST_DUE,
    community_row,
    make_community,
    prompts_to,
    review_id_in,
)

JSON = dict[str, Any]


def run_tick(harness: Harness) -> None:
    tick(harness.runtime.deps, harness.jobs_client)
    harness.drain()


def seed(harness: Harness, community_id: int, user: str, day: date, contributions: int) -> None:
    """Contributions counted on a past day (what the message events would have counted then)."""
    with harness.db.session() as session:
        activity_repo.increment(
            session,
            team_id=harness.emulator.team_id,
            community_id=community_id,
            channel_id=CHANNEL,
            user_id=user,
            day=day,
            contributions=contributions,
        )


def last_response(harness: Harness) -> JSON:
    """What the app sent to the response_url of the last button pressed."""
    return dict(harness.emulator.responses[-1][1])


# ---- 1. /cdp me: founders and moderators are no newcomers; dissolved communities nudge nobody ------
def test_me_never_greets_founders_or_moderators_as_newcomers(harness: Harness) -> None:
    create_community(harness, ALICE, "Safe streets", moderators=[ALICE, BRUNO])
    say(harness, "join Safe streets", CHLOE)
    harness.clock.advance(timedelta(days=20))  # long enough to "lurk" (14 days), still "new" (30)

    founder = say(harness, "me", ALICE)
    assert "*Safe streets*: core group (moderator) · outer circle" in founder
    assert "newcomer" not in founder
    assert "You have been reading for a while" not in founder
    assert "You joined recently and have not posted yet" not in founder
    assert "You are in the outer circle: no contribution in the last 30 days" in founder

    moderator = say(harness, "me", BRUNO)
    assert "*Safe streets* : groupe central (modération) · cercle externe" in moderator
    assert "nouveau membre" not in moderator
    assert "Vous suivez les échanges depuis un moment" not in moderator
    assert "Vous avez rejoint la communauté récemment" not in moderator
    assert (
        "Vous êtes dans le cercle externe : aucune contribution au cours des 30 derniers jours" in moderator
    )

    # A member who joined is still welcomed as a newcomer, and nudged gently.
    member = say(harness, "me", CHLOE)
    assert "*Safe streets*: outer circle · newcomer" in member
    assert "You have been reading for a while" in member


def test_me_shows_a_dissolved_community_last_and_without_nudges(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    add_channel(harness, "CWATER", "water", members=[ALICE])
    create_community(harness, ALICE, "Safe streets", channel="CSTREETS")
    create_community(harness, ALICE, "Water quality", channel="CWATER")
    for user in (BRUNO, CHLOE):
        say(harness, "join Safe streets", user)
        say(harness, "join Water quality", user)
    harness.clock.advance(timedelta(days=20))
    assert submit(harness, open_form(harness, "dissolve Safe streets", ALICE), ALICE) is None

    english = say(harness, "me", CHLOE)
    assert "*Safe streets* (dissolved, read-only): this community has ended, so it has no circles" in english
    dissolved = english[english.index("*Safe streets* (dissolved") :]
    assert english.index("*Water quality*") < english.index("*Safe streets*")  # the living ones first
    for nudge in ("reading for a while", "To join the inner circle", "outer circle", "newcomer"):
        assert nudge not in dissolved, nudge
    assert "Stored about you in this community: daily counts on 0 days" in dissolved
    assert "You have been reading for a while" in english  # still nudged where it makes sense

    french = say(harness, "me", BRUNO)
    dissolved = french[french.index("*Safe streets* (dissoute") :]
    assert "*Safe streets* (dissoute, en lecture seule) : cette communauté a pris fin" in dissolved
    for nudge in ("Vous suivez les échanges", "Pour rejoindre le cercle interne", "cercle externe"):
        assert nudge not in dissolved, nudge
    assert "des comptes quotidiens sur 0 jour (contributions" in dissolved  # French: « 0 jour »


# ---- 2. the first review: no founder among the new members, no made-up usual week ----------------
def prompt_text(harness: Harness, user: str) -> str:
    (prompt,) = prompts_to(harness, user)
    return shown(prompt)


def test_the_first_review_counts_no_founder_and_has_no_usual_week_yet(harness: Harness) -> None:
    make_community(harness, moderators=(ALICE, BRUNO))
    say(harness, "join Urbanism", CHLOE)
    harness.clock.set(FIRST_DUE)
    run_tick(harness)

    english = prompt_text(harness, ALICE)
    assert "*New members since the community started:* 1" in english  # CHLOE, not the founders
    assert "*Contributions:* 0 in the last 7 days (no usual week yet to compare with)." in english
    assert "usual 0" not in english

    french = prompt_text(harness, BRUNO)
    assert "*Nouveaux membres depuis la création de la communauté :* 1" in french
    assert (
        "*Contributions :* 0 ces 7 derniers jours (pas encore de semaine habituelle à laquelle comparer)."
        in french
    )


def test_the_first_review_compares_with_the_weeks_the_community_has_lived(harness: Harness) -> None:
    community_id = make_community(harness, moderators=(ALICE, BRUNO))
    seed(harness, community_id, ALICE, date(2026, 3, 5), 3)  # the week before the review's
    seed(harness, community_id, BRUNO, date(2026, 3, 12), 2)  # the review's week (10-16 March)
    harness.clock.set(FIRST_DUE)
    run_tick(harness)
    assert (
        "*Contributions:* 2 in the last 7 days, against a usual 3 a week over the previous week."
        in prompt_text(harness, ALICE)
    )
    assert (
        "*Contributions :* 2 ces 7 derniers jours, contre 3 par semaine d'habitude sur la semaine précédente."
        in prompt_text(harness, BRUNO)
    )


def test_an_older_community_compares_with_eight_weeks_in_each_language(harness: Harness) -> None:
    community_id = make_community(harness, moderators=(ALICE, BRUNO), cadence=12)
    due = community_row(harness, community_id).next_review_on
    assert due == date(2026, 5, 25)
    for week in range(1, 9):  # 1, 2, ... 8 contributions in the 8 weeks before: a usual 4.5
        seed(harness, community_id, ALICE, due - timedelta(days=7 * week), week)
    harness.clock.set(datetime(2026, 5, 25, 8, 0, tzinfo=UTC))  # 10:00 in Paris
    run_tick(harness)
    assert "against a usual 4.5 a week over the previous 8 weeks." in prompt_text(harness, ALICE)
    assert "contre 4,5 par semaine d'habitude sur les 8 semaines précédentes." in prompt_text(harness, BRUNO)


# ---- 3. "did you mean X?" below a clear match, with a Join button ---------------------------------
def test_one_letter_asks_did_you_mean_and_the_button_joins(harness: Harness) -> None:
    add_channel(harness, "CVELO", "velo", members=[ALICE])
    add_channel(harness, "CWATER", "water", members=[ALICE])
    velo = create_community(harness, ALICE, "Vélo en ville", channel="CVELO")
    create_community(harness, ALICE, "Water quality", channel="CWATER")

    asked = harness.slack.command("join v", CHLOE).json()
    assert asked["response_type"] == "ephemeral"
    assert "I know no community called “v”. Did you mean *Vélo en ville*?" in shown(asked)
    assert "Join Vélo en ville" in shown(asked)
    assert CHLOE not in members(harness, velo.id)  # nothing joined without asking
    assert CHLOE not in invited(harness, "CVELO")

    press_join_suggestion(harness, asked, CHLOE)
    answer = last_response(harness)
    assert answer["replace_original"] is True  # the question and its button go away
    assert "Welcome to *Vélo en ville*! You start in the *outer circle*" in shown(answer)
    assert active_members(harness, velo.id)[CHLOE] == "member"
    assert CHLOE in invited(harness, "CVELO")
    # Pressed again (a second click): still one membership, and it says so.
    press_join_suggestion(harness, asked, CHLOE)
    assert "You are already a member of *Vélo en ville*." in shown(last_response(harness))

    # In French, with the French name of the command.
    asked = harness.slack.command("rejoindre ve", DAVID).json()
    assert "Je ne connais pas de communauté appelée « ve ». Vouliez-vous dire *Vélo en ville* ?" in shown(
        asked
    )
    assert "Rejoindre Vélo en ville" in shown(asked)
    press_join_suggestion(harness, asked, DAVID)
    assert "Bienvenue dans *Vélo en ville* !" in shown(last_response(harness))

    # A clear start of the name joins at once; an ambiguous one lists the candidates, joins nothing.
    assert "Bienvenue dans *Vélo en ville* !" in say(harness, "join vel", BRUNO)
    create_community(harness, ALICE, "Velo cargo", channel=add_channel(harness, "CCARGO", "cargo"))
    text = say(harness, "join vel", ALICE)
    assert "Several communities match “vel”: Velo cargo and Vélo en ville. Which one?" in text


def test_the_join_button_of_a_protected_community_asks_its_moderators(harness: Harness) -> None:
    add_channel(harness, "CTRUST", "trust", members=[ALICE], is_private=True, bot_is_member=True)
    trust = create_community(
        harness, ALICE, "Trust circle", channel="CTRUST", visibility="protected", moderators=[ALICE, DAVID]
    )
    asked = harness.slack.command("join tr", CHLOE).json()
    assert "Did you mean *Trust circle*?" in shown(asked)
    assert requests(harness) == []
    press_join_suggestion(harness, asked, CHLOE)
    assert "*Trust circle* is a protected community: your request was sent to its moderators." in shown(
        last_response(harness)
    )
    (request,) = requests(harness)
    assert (request.user_id, request.status) == (CHLOE, "pending")
    assert CHLOE not in members(harness, trust.id)
    assert "<@UCHLOE> asks to join *Trust circle* (protected). Approve?" in dms(harness, ALICE)[-1]
    assert "<@UCHLOE> demande à rejoindre *Trust circle* (protégée)." in dms(harness, DAVID)[-1]


def test_a_join_button_for_a_community_that_is_gone_says_so(harness: Harness) -> None:
    add_channel(harness, "CVELO", "velo", members=[ALICE])
    create_community(harness, ALICE, "Vélo en ville", channel="CVELO")
    asked = harness.slack.command("join v", BRUNO).json()
    assert submit(harness, open_form(harness, "dissolve Vélo en ville", ALICE), ALICE) is None
    press_join_suggestion(harness, asked, BRUNO)
    assert "*Vélo en ville* a été dissoute : elle est désormais en lecture seule." in shown(
        last_response(harness)
    )
    for value in ("999999", "2147483648", "not-a-number", ""):
        result = harness.slack.block_action(
            BRUNO, "community_join_suggested", value=value, channel="CGENERAL"
        )
        assert result.status == 200
        assert "Je ne connais pas de communauté appelée" in shown(last_response(harness))


# ---- 4. agreement, plurals and punctuation -------------------------------------------------------
def test_snoozing_in_french_says_it_will_propose_the_review_again(harness: Harness) -> None:
    make_community(harness, moderators=(BRUNO,))
    harness.clock.set(FIRST_DUE)
    run_tick(harness)
    review_id = review_id_in(prompts_to(harness, BRUNO)[0])
    channel, prompt = harness.emulator.delivered(BRUNO)[-1]
    harness.slack.block_action(BRUNO, "review_snooze", value=review_id, channel=channel, message=prompt)
    text = shown(harness.emulator.delivered(BRUNO)[-1][1])  # the prompt now says so
    assert (
        "C'est reporté : je vous reproposerai la revue de *Urbanism* dans une semaine, le 23 mars 2026."
        in text
    )
    assert "représenterai" not in text


def test_moderators_added_and_removed_agree_with_their_number(harness: Harness) -> None:
    create_community(harness, BRUNO, "Rues sûres", moderators=[BRUNO, ALICE])
    two = "moderateurs ajouter <@UCHLOE|chloe> <@UDAVID|david> Rues sûres"
    assert "<@UCHLOE> et <@UDAVID> ont rejoint le groupe central de *Rues sûres*." in say(harness, two, BRUNO)
    one = "modérateurs retirer <@UDAVID|david> Rues sûres"
    assert "<@UDAVID> a quitté le groupe central de *Rues sûres*." in say(harness, one, BRUNO)
    one = "moderators add <@UDAVID|david> Rues sûres"
    assert "<@UDAVID> has joined the core group of *Rues sûres*." in say(harness, one, ALICE)
    two = "moderators remove <@UCHLOE|chloe> <@UDAVID|david> Rues sûres"
    assert "<@UCHLOE> and <@UDAVID> have left the core group of *Rues sûres*." in say(harness, two, ALICE)


def test_joining_names_its_channel_or_its_channels(harness: Harness) -> None:
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    add_channel(harness, "CSCHOOLS", "school-streets", members=[ALICE])
    add_channel(harness, "CWATER", "water", members=[ALICE])
    create_community(harness, ALICE, "Safe streets", channel="CSTREETS")
    create_community(harness, ALICE, "Water quality", channel="CWATER")
    view = open_form(harness, "settings Safe streets", ALICE)
    assert submit(harness, view, ALICE, channels=["CSTREETS", "CSCHOOLS"]) is None

    assert "Ses canaux : <#CSTREETS> <#CSCHOOLS>." in say(harness, "rejoindre Safe streets", BRUNO)
    assert "Son canal : <#CWATER>." in say(harness, "rejoindre Water quality", BRUNO)
    assert "Its channels: <#CSTREETS> <#CSCHOOLS>." in say(harness, "join Safe streets", CHLOE)
    assert "Its channel: <#CWATER>." in say(harness, "join Water quality", CHLOE)


def test_creation_messages_mention_key_people_only_when_named_and_never_end_in_question_full_stop(
    harness: Harness,
) -> None:
    assert DOMAIN.endswith("?")
    add_channel(harness, "CSTREETS", "safe-streets", members=[ALICE])
    create_community(harness, ALICE, "Safe streets", channel="CSTREETS", key_people=[BRUNO, CHLOE])
    (invitation,) = dms(harness, BRUNO)
    assert f"Son domaine : {DOMAIN} Rejoignez-la avec `/cdp rejoindre Safe streets`." in invitation
    assert f"Its domain: {DOMAIN} Join with `/cdp join Safe streets`." in dms(harness, CHLOE)[-1]
    created = dms(harness, ALICE)[-1]
    assert "*Safe streets* is created in <#CSTREETS>. The welcome message is posted there." in created
    assert "I invited the key people you named to join: <@UBRUNO> and <@UCHLOE>." in created

    add_channel(harness, "CWATER", "water", members=[BRUNO])
    create_community(harness, BRUNO, "Qualité de l'eau", channel="CWATER")
    created = dms(harness, BRUNO)[-1]
    assert created == "*Qualité de l'eau* est créée dans <#CWATER>. Le message d'accueil y est publié."
    for user in (ALICE, BRUNO, CHLOE):
        assert all("?." not in text for text in dms(harness, user))


# ---- 5. French names of the subcommands -----------------------------------------------------------
def test_french_help_shows_the_french_names(harness: Harness) -> None:
    for text in ("aide", "help", ""):
        french = shown(harness.slack.command(text, BRUNO).json())
        assert "`/cdp rejoindre [nom]` : rejoindre une communauté" in french
        assert "`/cdp confidentialite exporter | confidentialite oublier` :" in french
        assert "`/cdp moderateurs [nom] | moderateurs ajouter|retirer @quelqu'un [nom]` :" in french
        for name in ("aide", "creer", "quitter", "liste", "infos", "moi", "cercles", "parametres"):
            assert f"`/cdp {name}" in french, name
        assert "`/cdp join" not in french.split("Les noms anglais")[0]
    english = shown(harness.slack.command("aide", ALICE).json())  # the user's language, whatever the word
    assert "`/cdp join [name]`: join a community" in english


def test_french_names_do_what_the_english_names_do(harness: Harness) -> None:
    view = open_form(harness, "créer", ALICE)
    assert view["callback_id"] == "community_create"
    assert submit(harness, view, ALICE, name="Safe streets", domain=DOMAIN, channel="CGENERAL") is None
    harness.drain()

    assert "Welcome to *Safe streets*!" in say(harness, "rejoindre Safe streets", CHLOE)
    assert "Bienvenue dans *Safe streets* !" in say(harness, "Rejoindre Safe streets", BRUNO)
    assert "*Vos communautés*" in say(harness, "moi", BRUNO)
    assert "*Safe streets*" in say(harness, "liste", BRUNO)
    assert "*Domaine :*" in say(harness, "infos Safe streets", BRUNO)
    assert "*Safe streets* : groupe central 1" in say(harness, "cercles Safe streets", BRUNO)
    assert "Vous avez quitté *Safe streets*." in say(harness, "quitter Safe streets", BRUNO)

    text = say(harness, "modérateurs ajouter <@UCHLOE|chloe> Safe streets", ALICE)
    assert "<@UCHLOE> has joined the core group of *Safe streets*." in text
    assert "Groupe central de *Safe streets* : <@UALICE> et <@UCHLOE>." in say(
        harness, "moderateurs Safe streets", BRUNO
    )
    assert open_form(harness, "paramètres Safe streets", ALICE)["callback_id"] == "community_settings"
    assert open_form(harness, "parametres Safe streets", ALICE)["callback_id"] == "community_settings"
    assert open_form(harness, "revue Safe streets", ALICE)["callback_id"] == "review_checklist"
    assert open_form(harness, "dissoudre Safe streets", ALICE)["callback_id"] == "community_dissolve"
    assert open_form(harness, "confidentialité oublier", BRUNO)["callback_id"] == "privacy_forget"
    assert "le fichier arrivera dans un instant" in say(harness, "confidentialite exporter", BRUNO)
    usage = say(harness, "confidentialite", BRUNO)
    assert "`/cdp confidentialite exporter`" in usage and "`/cdp confidentialite oublier`" in usage


def test_a_french_typo_is_answered_with_the_french_name(harness: Harness) -> None:
    answer = harness.slack.command("rejoidre Safe streets", BRUNO).json()
    assert "Je ne connais pas `/cdp rejoidre`. Vouliez-vous dire `/cdp rejoindre` ?" in answer["text"]
    answer = harness.slack.command("jion Safe streets", ALICE).json()
    assert "I don't know `/cdp jion`. Did you mean `/cdp join`?" in answer["text"]
