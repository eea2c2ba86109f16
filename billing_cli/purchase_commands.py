"""`billing packs list|set` (the credit packs), `billing purchases list ORG` and `billing
auto-recharge show|set|off ORG`."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from billing_cli.context import CommandContext, utcnow
from billing_cli.output import credits, table, to_json
from billing_core.money import credits_to_micros
from billing_core.purchases.actions import configure_auto_recharge
from billing_core.purchases.methods import saved_method
from billing_core.purchases.packs import CreditPack, PackChange, list_packs, set_pack
from billing_core.purchases.recharges import get_settings
from billing_core.purchases.store import list_purchases


def _credits(value: str) -> int:
    try:
        return credits_to_micros(value)
    except Exception:
        raise argparse.ArgumentTypeError(f"not a credit amount: {value!r}") from None


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    packs = sub.add_parser("packs", help="the credit packs organizations can buy").add_subparsers(
        dest="packs_cmd", required=True
    )
    lst = packs.add_parser("list", help="every pack on sale (--all: withdrawn ones too)")
    lst.add_argument("--all", action="store_true")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=packs_list)
    set_ = packs.add_parser("set", help="create a pack or change some of its settings")
    set_.add_argument("code")
    set_.add_argument("--credits", type=_credits, help="credits in the pack (decimal); required when new")
    set_.add_argument("--price", type=int, dest="price_cents", help="price in cents; required when new")
    set_.add_argument("--currency", help="ISO 4217 code (default usd)")
    set_.add_argument("--name")
    set_.add_argument("--stripe-price", help="a Stripe price id (else the price is sent inline)")
    set_.add_argument("--recurrente-product", help="a Recurrente price id (else the item is inline)")
    expiry = set_.add_mutually_exclusive_group()
    expiry.add_argument("--expires-after-days", type=int, help="purchased credits expire after D days")
    expiry.add_argument("--no-expiry", action="store_true", help="purchased credits never expire (default)")
    set_.add_argument("--active", action=argparse.BooleanOptionalAction, default=None, help="on sale")
    set_.set_defaults(run=packs_set)

    purchases = sub.add_parser("purchases", help="credit purchases").add_subparsers(
        dest="purchases_cmd", required=True
    )
    plist = purchases.add_parser("list", help="an organization's purchases, newest first")
    plist.add_argument("org_id")
    plist.add_argument("--limit", type=int, default=20)
    plist.add_argument("--json", action="store_true")
    plist.set_defaults(run=purchases_list)

    recharge = sub.add_parser("auto-recharge", help="an organization's auto-recharge").add_subparsers(
        dest="recharge_cmd", required=True
    )
    show = recharge.add_parser("show", help="the setting and whether a card is saved")
    show.add_argument("org_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=recharge_show)
    on = recharge.add_parser("set", help="buy PACK when the balance falls below THRESHOLD credits")
    on.add_argument("org_id")
    on.add_argument("--threshold", type=_credits, help="credits (decimal)")
    on.add_argument("--pack")
    on.add_argument("--monthly-cap-cents", type=int, help="at most this much charged per month")
    on.set_defaults(run=recharge_set)
    off = recharge.add_parser("off", help="stop auto-recharging (the setting is kept)")
    off.add_argument("org_id")
    off.set_defaults(run=recharge_off)


def describe(pack: CreditPack) -> dict[str, Any]:
    return {**asdict(pack), "credits": credits(pack.credits)}


def packs_list(ctx: CommandContext, args: argparse.Namespace) -> int:
    packs = ctx.read(lambda c: list_packs(c, active_only=not args.all))
    if args.json:
        print(to_json([describe(p) for p in packs]))
        return 0
    print(
        table(
            ["code", "name", "credits", "price", "expires", "stripe", "recurrente", "on sale"],
            [
                (
                    p.code,
                    p.name,
                    credits(p.credits),
                    f"{_cents(p.price_cents)} {p.currency}",
                    f"{p.expires_after_days} days" if p.expires_after_days else "never",
                    p.stripe_price or "inline",
                    p.recurrente_product or "inline",
                    "yes" if p.active else "no",
                )
                for p in packs
            ],
        )
    )
    return 0


def packs_set(ctx: CommandContext, args: argparse.Namespace) -> int:
    change = PackChange(
        credits=args.credits,
        price_cents=args.price_cents,
        currency=args.currency,
        name=args.name,
        stripe_price=args.stripe_price,
        recurrente_product=args.recurrente_product,
        expires_after_days=args.expires_after_days,
        no_expiry=args.no_expiry,
        active=args.active,
    )
    now = utcnow()
    pack, created = ctx.audited_write(
        "pack.set",
        lambda c: set_pack(c, args.code, change, now),
        target=lambda _: ("pack", args.code),
        details=lambda r: {
            "created": r[1],
            "credits": credits(r[0].credits),
            "price_cents": r[0].price_cents,
        },
    )
    expiry = f", expiring after {pack.expires_after_days} days" if pack.expires_after_days else ""
    print(
        f"{'created' if created else 'updated'} pack {pack.code}: {credits(pack.credits)} credits for "
        f"{_cents(pack.price_cents)} {pack.currency}{expiry}{'' if pack.active else ' (not on sale)'}"
    )
    return 0


def purchases_list(ctx: CommandContext, args: argparse.Namespace) -> int:
    rows = ctx.read(lambda c: list_purchases(c, args.org_id, limit=args.limit))
    if args.json:
        print(to_json([{**asdict(p), "credits": credits(p.credits)} for p in rows]))
        return 0
    print(
        table(
            ["id", "created_at", "kind", "pack", "credits", "price", "provider", "status", "detail"],
            [
                (
                    p.id,
                    p.created_at,
                    p.kind,
                    p.pack_code,
                    credits(p.credits),
                    f"{_cents(p.price_cents)} {p.currency}",
                    p.provider,
                    p.status,
                    p.failure_reason
                    or (
                        f"refunded {_cents(p.refunded_cents)}, took back {credits(p.clawed_back)}"
                        if p.refunded_cents
                        else ""
                    ),
                )
                for p in rows
            ],
        )
    )
    return 0


def recharge_show(ctx: CommandContext, args: argparse.Namespace) -> int:
    settings = ctx.read(lambda c: get_settings(c, args.org_id))
    method = ctx.read(lambda c: saved_method(c, args.org_id))
    view = {
        "organization_id": args.org_id,
        "enabled": bool(settings and settings.enabled),
        "threshold": credits(settings.threshold) if settings else None,
        "pack": settings.pack_code if settings else None,
        "monthly_cap_cents": settings.monthly_cap_cents if settings else None,
        "saved_payment_method": method is not None,
    }
    if args.json:
        print(to_json(view))
    else:
        print(table(["setting", "value"], list(view.items())))
    return 0


def recharge_set(ctx: CommandContext, args: argparse.Namespace) -> int:
    settings = configure_auto_recharge(
        ctx.engine,
        args.org_id,
        utcnow(),
        enabled=True,
        threshold=args.threshold,
        pack=args.pack,
        monthly_cap_cents=args.monthly_cap_cents,
    )
    assert settings is not None  # enabling always leaves a setting
    print(
        f"auto-recharge on for {args.org_id}: pack {settings.pack_code} when the balance falls below "
        f"{credits(settings.threshold)}, at most {_cents(settings.monthly_cap_cents)} a month"
    )
    return 0


def recharge_off(ctx: CommandContext, args: argparse.Namespace) -> int:
    configure_auto_recharge(ctx.engine, args.org_id, utcnow(), enabled=False)
    print(f"auto-recharge off for {args.org_id}")
    return 0


def _cents(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
