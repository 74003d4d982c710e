"""Sections `contacts`, `schedules`, `escalation_policies`, plus users' contact methods and services' paging."""

from __future__ import annotations

from typing import Any

from pydantic import Field, TypeAdapter
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from prism_ir.domain.business_hours import BusinessHours
from prism_ir.domain.escalation import EscalationPolicy
from prism_ir.domain.oncall import Schedule
from prism_ir.services import config_services, config_users
from prism_ir.services.config_apply import SECTIONS, ApplyContext, Section, register
from prism_ir.services.contacts import ContactMethodSpec
from prism_ir.services.errors import Invalid
from prism_ir.store.repos import AuditRepo
from prism_ir.store.tables import UserRow
from prism_ir.store.tables_oncall import ContactMethodRow, ContactRow, EscalationPolicyRow, ScheduleRow

ContactList = dict[str, dict[str, str]]


class UserWithContacts(config_users.UserSpec):
    contact_methods: list[ContactMethodSpec] = Field(default_factory=list)


class ServiceWithPaging(config_services.ServiceSpec):
    business_hours: BusinessHours | None = None  # type: ignore[assignment]


async def _known(session: AsyncSession, row: type, ids: set[str], in_doc: set[str]) -> set[str]:
    missing = ids - in_doc
    if not missing:
        return set()
    found = set((await session.execute(select(row.id).where(row.id.in_(missing)))).scalars())  # type: ignore[attr-defined]
    return missing - found


async def apply_users(ctx: ApplyContext, users: list[UserWithContacts]) -> None:
    await config_users.apply_users(ctx, users)  # type: ignore[arg-type]
    for spec in users:
        methods = [(m.type, m.value, m.label) for m in spec.contact_methods]
        have = (await ctx.session.execute(select(ContactMethodRow).where(ContactMethodRow.user_id == spec.id)
                                          .order_by(ContactMethodRow.position))).scalars().all()
        if [(m.type, m.address, m.label) for m in have] == methods:
            continue
        await ctx.session.execute(delete(ContactMethodRow).where(ContactMethodRow.user_id == spec.id))
        await ctx.session.flush()
        for pos, (type_, address, label) in enumerate(methods):
            ctx.session.add(ContactMethodRow(user_id=spec.id, position=pos, type=type_, address=address, label=label))
        await AuditRepo(ctx.session).record(at=ctx.now, actor=ctx.actor, entity_type="user", entity_id=spec.id,
                                            action="contact_methods", before={"methods": [
                                                [m.type, m.address] for m in have]},
                                            after={"methods": [[t, a] for t, a, _ in methods]})
        ctx.changed(f"user {spec.id}: {len(methods)} contact method(s)")


async def apply_contacts(ctx: ApplyContext, contacts: ContactList) -> None:
    """The seed's contact list block, verbatim; it replaces the stored list."""
    have = {(r.group, r.name): r for r in (await ctx.session.execute(select(ContactRow))).scalars()}
    want = {(g, n): str(v) for g, entries in contacts.items() for n, v in (entries or {}).items()}
    for key, row in have.items():
        if key not in want:
            await ctx.session.delete(row)
    for (group, name), value in want.items():
        row = have.get((group, name))
        if row is None:
            ctx.session.add(ContactRow(group=group, name=name, value=value, updated_at=ctx.now))
        elif row.value != value:
            row.value, row.updated_at = value, ctx.now
    before = {f"{g}.{n}": r.value for (g, n), r in have.items()}
    after = {f"{g}.{n}": v for (g, n), v in want.items()}
    if before != after:
        await AuditRepo(ctx.session).record(at=ctx.now, actor=ctx.actor, entity_type="contacts", entity_id="all",
                                            action="apply", before=before, after=after)
        ctx.changed(f"contacts: {len(after)} entries")


def _doc_ids(ctx: ApplyContext, section: str) -> set[str]:
    return {str(getattr(item, "id", "")) for item in ctx.document.get(section) or []}


async def check_schedule(session: AsyncSession, schedule: Schedule, doc_users: set[str], where: str) -> None:
    wanted = {u for r in schedule.rotations for u in r.users} | {o.user for o in schedule.overrides}
    missing = await _known(session, UserRow, wanted, doc_users)
    for i, rot in enumerate(schedule.rotations):
        for j, user in enumerate(rot.users):
            if user in missing:
                raise Invalid(f"unknown user {user!r}", field=f"{where}.rotations[{i}].users[{j}]")
    for i, o in enumerate(schedule.overrides):
        if o.user in missing:
            raise Invalid(f"unknown user {o.user!r}", field=f"{where}.overrides[{i}].user")


async def apply_schedules(ctx: ApplyContext, schedules: list[Schedule]) -> None:
    doc_users = _doc_ids(ctx, "users")
    for i, schedule in enumerate(schedules):
        await check_schedule(ctx.session, schedule, doc_users, f"[{i}]")
        await upsert_definition(ctx.session, ScheduleRow, schedule.id, schedule.name, schedule.model_dump(mode="json"),
                                ctx, "schedule")


async def check_policy(session: AsyncSession, policy: EscalationPolicy, doc: dict[str, Any], where: str) -> None:
    doc_schedules = {s.id: s for s in doc.get("schedules") or []}
    doc_users = {u.id for u in doc.get("users") or []}
    doc_contacts = {f"{g}.{n}" for g, e in (doc.get("contacts") or {}).items() for n in (e or {})}
    for i, step in enumerate(policy.steps):
        for j, t in enumerate(step.targets):
            field = f"{where}.steps[{i}].notify[{j}]"
            if t.kind == "user" and await _known(session, UserRow, {t.ref}, doc_users):
                raise Invalid(f"unknown user {t.ref!r}", field=field)
            if t.kind == "schedule":
                sched = doc_schedules.get(t.ref)
                if sched is None:
                    row = await session.get(ScheduleRow, t.ref)
                    sched = Schedule.model_validate(row.definition) if row else None
                if sched is None:
                    raise Invalid(f"unknown schedule {t.ref!r}", field=field)
                if t.role not in sched.roles:
                    raise Invalid(f"schedule {t.ref} has no role {t.role!r} (it has {', '.join(sched.roles)})",
                                  field=field)
            if t.kind == "contact" and t.ref not in doc_contacts and "contacts" not in doc:
                group, name = t.ref.split(".", 1)
                if await session.get(ContactRow, (group, name)) is None:
                    raise Invalid(f"unknown contact {t.ref!r}: add it under contacts.{group}", field=field)
            elif t.kind == "contact" and t.ref not in doc_contacts:
                raise Invalid(f"unknown contact {t.ref!r}: add it under contacts", field=field)


async def apply_policies(ctx: ApplyContext, policies: list[EscalationPolicy]) -> None:
    for i, policy in enumerate(policies):
        await check_policy(ctx.session, policy, ctx.document, f"[{i}]")
        await upsert_definition(ctx.session, EscalationPolicyRow, policy.id, policy.name,
                                policy.model_dump(mode="json"), ctx, "escalation_policy")


async def upsert_definition(session: AsyncSession, table: Any, id_: str, name: str, definition: dict[str, Any],
                            ctx: ApplyContext, entity: str) -> bool:
    row = await session.get(table, id_)
    before = row.definition if row else None
    if row is not None and row.definition == definition and row.name == name:
        return False
    if row is None:
        session.add(table(id=id_, name=name, definition=definition, updated_at=ctx.now))
    else:
        row.name, row.definition, row.updated_at = name, definition, ctx.now
    await AuditRepo(session).record(at=ctx.now, actor=ctx.actor, entity_type=entity, entity_id=id_,
                                    action="apply", before=before, after=definition)
    ctx.changed(f"{entity.replace('_', ' ')} {id_}: saved")
    return True


async def apply_services(ctx: ApplyContext, services: list[ServiceWithPaging]) -> None:
    doc_policies = _doc_ids(ctx, "escalation_policies")
    for i, spec in enumerate(services):
        for sev, pid in spec.escalation.items():
            if await _known(ctx.session, EscalationPolicyRow, {pid}, doc_policies):
                raise Invalid(f"unknown escalation policy {pid!r}", field=f"[{i}].escalation.{sev}")
    await config_services.apply_services(ctx, services)  # type: ignore[arg-type]


register(Section("users", TypeAdapter(list[UserWithContacts]), apply_users, order=SECTIONS["users"].order))
register(Section("contacts", TypeAdapter(ContactList), apply_contacts, order=15))
register(Section("schedules", TypeAdapter(list[Schedule]), apply_schedules, order=20))
register(Section("escalation_policies", TypeAdapter(list[EscalationPolicy]), apply_policies, order=30))
register(Section("services", TypeAdapter(list[ServiceWithPaging]), apply_services, order=SECTIONS["services"].order))
