"""Use-cases of privacy: export everything stored about a person, forget them.

"Everything stored about them" is every row that holds their Slack id, whichever table: their
memberships, daily counts and the monthly totals older days were rolled into (bot.services.retention),
circle history and join requests; and where they acted for a community
(created or dissolved it, are named a key person, decided a request, completed a review with notes),
and messages owed to them in the outbox. The export shows all of it; forgetting erases or anonymises
all of it (storage/repositories/privacy.py says what becomes of each column, and why).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.domain.checklist import ITEMS
from bot.domain.circles import ParamValue, Reason
from bot.domain.retention import RetentionPolicy
from bot.i18n import t
from bot.services import retention as retention_service
from storage.models import CircleChange
from storage.repositories import activity as activity_repo
from storage.repositories import communities as community_repo
from storage.repositories import follow_ups as follow_up_repo
from storage.repositories import home as home_repo
from storage.repositories import memberships as membership_repo
from storage.repositories import privacy as privacy_repo
from storage.repositories import products as product_repo
from storage.repositories import retention as retention_repo
from storage.repositories import review_together as together_repo
from storage.repositories import stages as stage_repo

# What a forgotten person's id becomes where the community's history keeps the act but not the actor
# (created_by, dissolved_by, decided_by, completed_by). Never a Slack id; views say "a former member".
FORMER_MEMBER = ""


def is_former_member(user_id: str | None) -> bool:
    return user_id == FORMER_MEMBER


def _at(moment: datetime | date | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _label(key: str, lang: str, fallback: str) -> str:
    """A human-readable label; the stable identifier itself for a value we have no words for."""
    try:
        return t(key, lang)
    except KeyError:
        return fallback


def _reason_text(change: CircleChange, lang: str) -> str:
    """The reason recorded with a change of circle, in the words `/cdp me` used."""
    params: dict[str, ParamValue] = {
        name: value
        for name, value in (change.reason_params or {}).items()
        if isinstance(value, int | str) and not isinstance(value, bool)
    }
    reason = Reason.of(change.reason_key, **params)
    try:
        return t(reason.key, lang, **reason.as_dict())
    except (KeyError, ValueError, IndexError):  # a reason recorded by an older version
        return change.reason_key


def _person(user_id: str | None, lang: str) -> str | None:
    if user_id is None:
        return None
    return t("activity.privacy.label.former_member", lang) if is_former_member(user_id) else user_id


def export(
    session: Session,
    *,
    team_id: str,
    user_id: str,
    lang: str,
    now: datetime,
    retention: RetentionPolicy | None = None,
) -> dict[str, Any]:
    """Everything stored about a person, as a JSON-ready document in their language: keys are stable
    English identifiers, each coded value comes with a `_label` in `lang`. `retention`: the settings'
    (what the document says is kept, and for how long); the defaults when not given."""
    names = {c.id: c.name for c in community_repo.for_team(session, team_id=team_id)}

    def label(group: str, value: str) -> str:
        return _label(f"activity.privacy.label.{group}.{value}", lang, value)

    memberships = [
        {
            "community": names.get(m.community_id),
            "role": m.role,
            "role_label": label("role", m.role),
            "circle": m.circle,
            "circle_label": _label(f"circles.name.{m.circle}", lang, m.circle),
            "circle_since": _at(m.circle_since),
            "joined_at": _at(m.joined_at),
            "joined_via": m.joined_via,
            "joined_via_label": label("joined_via", m.joined_via),
            "left_at": _at(m.left_at),
            "greeted_at": _at(m.greeted_at),
            "welcomed_at": _at(m.welcomed_at),
            "first_contribution_at": _at(m.first_contribution_at),
        }
        for m in membership_repo.all_for_user(session, team_id=team_id, user_id=user_id)
    ]
    activity_days = [
        {
            "community": names.get(a.community_id),
            "channel_id": a.channel_id,
            "day": a.day.isoformat(),
            "contributions": a.contributions,
            "reactions": a.reactions,
        }
        for a in activity_repo.for_user(session, team_id=team_id, user_id=user_id)
    ]
    # Days older than the retention, summed per month (bot.services.retention): still about them.
    activity_months = [
        {
            "community": names.get(m.community_id),
            "month": m.month.strftime("%Y-%m"),
            "contributions": m.contributions,
            "reactions": m.reactions,
        }
        for m in retention_repo.months_for_user(session, team_id=team_id, user_id=user_id)
    ]
    circle_changes = [
        {
            "community": names.get(c.community_id),
            "from": c.from_circle,
            "from_label": _label(f"circles.name.{c.from_circle}", lang, c.from_circle),
            "to": c.to_circle,
            "to_label": _label(f"circles.name.{c.to_circle}", lang, c.to_circle),
            "reason": c.reason_key,
            "reason_params": c.reason_params,
            "reason_text": _reason_text(c, lang),
            "at": _at(c.changed_at),
        }
        for c in activity_repo.changes_for_user(session, team_id=team_id, user_id=user_id)
    ]
    join_requests = [
        {
            "community": names.get(r.community_id),
            "status": r.status,
            "status_label": label("request", r.status),
            "requested_at": _at(r.requested_at),
            "decided_by": _person(r.decided_by, lang),
            "decided_at": _at(r.decided_at),
        }
        for r in sorted(
            membership_repo.requests_for_user(session, team_id=team_id, user_id=user_id),
            key=lambda r: (r.requested_at, r.id),
        )
    ]
    requests_decided = [
        {
            "community": names.get(r.community_id),
            "requester": r.user_id,
            "decision": r.status,
            "decision_label": label("request", r.status),
            "decided_at": _at(r.decided_at),
        }
        for r in privacy_repo.requests_decided_by(session, team_id=team_id, user_id=user_id)
    ]
    involved = privacy_repo.communities_involving(session, team_id=team_id, user_id=user_id)
    reviews = [
        {
            "community": names.get(r.community_id),
            "due_on": _at(r.due_on),
            "completed_at": _at(r.completed_at),
            "decision": r.decision,
            "decision_label": _label(f"checklist.decision.{r.decision}", lang, str(r.decision)),
            "answers": [
                {
                    "item": a.get("item"),
                    "question": _label(f"checklist.item.{a.get('item')}", lang, str(a.get("item")))
                    if a.get("item") in ITEMS
                    else a.get("item"),
                    "answer": a.get("answer"),
                    "answer_label": _label(f"checklist.answer.{a.get('answer')}", lang, str(a.get("answer"))),
                    "note": a.get("note") or "",
                }
                for a in r.answers or []
            ],
        }
        for r in privacy_repo.reviews_completed_by(session, team_id=team_id, user_id=user_id)
    ]
    notes_about = [
        {
            "community": names.get(r.community_id),
            "due_on": _at(r.due_on),
            "item": a.get("item"),
            "note": a.get("note"),
        }
        for r in privacy_repo.reviews_with_notes_mentioning(session, team_id=team_id, user_id=user_id)
        if r.completed_by != user_id  # their own notes are in reviews_completed
        for a in r.answers or []
        if privacy_repo.names(a.get("note"), user_id)
    ]
    outbox = [
        {
            "to_you": m.target == user_id,
            "kind": m.kind,
            "status": m.status,
            "status_label": label("outbox", m.status),
            "created_at": _at(m.created_at),
            "sent_at": _at(m.sent_at),
            "payload": m.payload,
        }
        for m in privacy_repo.outbox_about(session, team_id=team_id, user_id=user_id)
        if not (m.kind == "export" and m.status == "pending")  # this very export, on its way
    ]
    forgotten = activity_repo.is_forgotten(session, team_id=team_id, user_id=user_id)
    first_posts = [
        {
            "community": names.get(p.community_id),
            "channel_id": p.channel_id,
            "yours": p.user_id == user_id,  # else: you were the first to answer it
            "message_ts": p.message_ts if p.user_id == user_id else None,
            "posted_at": _at(p.posted_at),
            "first_reply_at": _at(p.first_reply_at),
            "first_reply_by": _person(p.first_reply_by, lang),
        }
        for p in privacy_repo.first_posts_of(session, team_id=team_id, user_id=user_id)
    ]
    return {
        "user_id": user_id,
        "team_id": team_id,
        "exported_at": _at(now),
        "language": lang,
        "note": t("activity.privacy.export_note", lang),
        "sections": {
            **{name: t(f"activity.privacy.section.{name}", lang) for name in SECTIONS},
            "activity_months": t("retention.section_months", lang),
        },
        # What is kept and for how long, as `note` says what the file is: words, not a section of rows.
        "retention": retention_service.policy_text(retention or RetentionPolicy(), lang),
        "memberships": memberships,
        "activity_days": activity_days,
        "activity_months": activity_months,
        "circle_changes": circle_changes,
        "join_requests": join_requests,
        "requests_decided": requests_decided,
        "communities_created": [
            {"community": c.name, "created_at": _at(c.created_at)}
            for c in involved
            if c.created_by == user_id
        ],
        "communities_dissolved": [
            {"community": c.name, "dissolved_at": _at(c.dissolved_at)}
            for c in involved
            if c.dissolved_by == user_id
        ],
        "key_person_of": [{"community": c.name} for c in involved if user_id in (c.key_people or [])],
        "reviews_completed": reviews,
        "review_notes_about_you": notes_about,
        "outbox": outbox,
        "first_posts": first_posts,
        "products_saved": [  # issue 11, item 8: the title and link they saved, and when
            {
                "community": names.get(p.community_id),
                "title": p.title,
                "link": p.link,
                "saved_at": _at(p.saved_at),
            }
            for p in product_repo.saved_by(session, team_id=team_id, user_id=user_id)
        ],
        "stages_moved": [  # issue 11, item 9: the stages they moved a community to, and when
            {
                "community": names.get(c.community_id),
                "from": c.from_stage,
                "to": c.to_stage,
                "by_review": c.review_id is not None,
                "at": _at(c.changed_at),
            }
            for c in stage_repo.moved_by(session, team_id=team_id, user_id=user_id)
        ],
        # Issue 11, item 5: the follow-ups they own, made or closed (the text is the moderator's own
        # words), and the communities that name them as sponsor.
        "follow_ups": [
            {
                "community": name,
                "text": f.text,
                "owner": _person(f.owner_id, lang),
                "due_on": _at(f.due_on),
                "created_by": _person(f.created_by, lang),
                "created_at": _at(f.created_at),
                "done_by": _person(f.done_by, lang) if f.done_by else None,
                "done_at": _at(f.done_at),
            }
            for f, name in follow_up_repo.naming(session, team_id=team_id, user_id=user_id)
        ],
        "sponsor_of": [
            {"community": name}
            for name in follow_up_repo.sponsored(session, team_id=team_id, user_id=user_id)
        ],
        "app_home": [
            {"opened_at": _at(at)} for at in home_repo.opened_at(session, team_id=team_id, user_id=user_id)
        ],
        # issue 11, item 4: the answers they saved to a review done together, and the decision proposed
        "review_answers_saved": [
            {
                "community": names.get(community_id),
                "due_on": _at(due_on),
                "saved_at": _at(row.saved_at),
                "yours": row.user_id == user_id,  # else: a co-moderator's answers whose notes name you
                "decision": row.decision if row.user_id == user_id else None,
                "answers": [
                    {"item": a.get("item"), "answer": a.get("answer"), "note": a.get("note") or ""}
                    for a in row.answers or []
                    if row.user_id == user_id or privacy_repo.names(a.get("note"), user_id)
                ],
            }
            for row, community_id, due_on in together_repo.saved_by(session, team_id=team_id, user_id=user_id)
        ],
        "forgotten": forgotten,
        "forgotten_label": t(f"activity.privacy.label.forgotten.{'yes' if forgotten else 'no'}", lang),
    }


# The export's sections, each explained in the reader's language (activity.privacy.section.<name>), and
# the values whose labels it shows (activity.privacy.label.<group>.<value>).
SECTIONS = (
    "memberships",
    "activity_days",
    "circle_changes",
    "join_requests",
    "requests_decided",
    "communities_created",
    "communities_dissolved",
    "key_person_of",
    "reviews_completed",
    "review_notes_about_you",
    "outbox",
    "first_posts",
    "products_saved",
    "stages_moved",
    "follow_ups",
    "sponsor_of",
    "app_home",
    "review_answers_saved",
    "forgotten",
)
LABELLED = {
    "role": ("core", "member"),
    "joined_via": ("command", "channel", "creation"),
    "request": ("pending", "approved", "declined"),
    "outbox": ("pending", "sent", "skipped", "failed", "cancelled"),
    "forgotten": ("yes", "no"),
}


def export_json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def last_moderator_of(session: Session, *, team_id: str, user_id: str) -> list[str]:
    """Active communities that would be left without a moderator if this person were forgotten."""
    names = []
    for membership in membership_repo.active_for_user(session, team_id=team_id, user_id=user_id):
        if membership.role != "core":
            continue
        community = community_repo.get(session, team_id=team_id, community_id=membership.community_id)
        if community is None or community.status != "active":
            continue
        moderators = membership_repo.moderators(session, team_id=team_id, community_id=community.id)
        if moderators == [user_id]:
            names.append(community.name)
    return sorted(names)


def forget(session: Session, *, team_id: str, user_id: str, now: datetime) -> int:
    """Erase or anonymise everything stored about them; they are not counted again until they join again.

    The last moderator of a community is warned first (the confirmation names the communities), but not
    refused, unlike `/cdp leave`: erasure is the person's right and cannot wait on others naming a
    successor. The community then has no moderator, which the momentum alerts report to its members.
    """
    changed = privacy_repo.erase(session, team_id=team_id, user_id=user_id, former=FORMER_MEMBER)
    changed += home_repo.forget(session, team_id=team_id, user_id=user_id)  # App Home: opened when
    changed += product_repo.forget(session, team_id=team_id, user_id=user_id, former=FORMER_MEMBER)
    changed += stage_repo.forget(session, team_id=team_id, user_id=user_id, former=FORMER_MEMBER)
    changed += together_repo.forget(session, team_id=team_id, user_id=user_id)  # saved review answers
    changed += retention_repo.forget(session, team_id=team_id, user_id=user_id)  # monthly totals
    activity_repo.forget(session, team_id=team_id, user_id=user_id, now=now)
    return changed
