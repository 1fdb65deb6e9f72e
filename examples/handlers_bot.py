"""A complete zalogate bot written as Python handlers.

Run it in front of the configured agent (messages no handler takes go to the agent)::

    PYTHONPATH=examples zalogate gateway run --app handlers_bot:router

or as an agent of its own, in ``zalogate.json5``::

    agents: { list: [ { id: "shop", type: "python", python: { app: "handlers_bot:router" } } ] }
"""

from __future__ import annotations

from zalogate.handlers import Message, Router, SkipHandler

router = Router(name="shop")

PRICES = {"cà phê": 25_000, "trà sữa": 35_000, "bánh mì": 20_000}


@router.message(command="/start")
async def start(msg: Message) -> None:
    """Greet, with the menu."""
    name = msg.sender_name or "bạn"
    await msg.reply(f"Xin chào {name}! Gõ /menu để xem thực đơn, hoặc hỏi giá một món.")


@router.message(command="/menu")
async def menu(msg: Message) -> None:
    """The menu, one line per item."""
    lines = [f"- {item}: {price:,}đ".replace(",", ".") for item, price in PRICES.items()]
    await msg.reply("Thực đơn:\n" + "\n".join(lines))


@router.message(contains="giá")
async def price(msg: Message) -> None:
    """Answer a price question about a known item; anything else goes on to the agent."""
    text = msg.text.lower()
    for item, amount in PRICES.items():
        if item in text:
            await msg.reply(f"{item.capitalize()} giá {amount:,}đ.".replace(",", "."))
            return
    raise SkipHandler  # not an item we know: let the configured agent answer


@router.message(chat="group", mentioned=True, contains="cảm ơn")
async def thanks_in_group(msg: Message) -> None:
    """A thank-you in a group gets a reaction instead of a message."""
    await msg.react("heart")


@router.message(chat="group", mentioned=False)
async def quiet_in_groups(msg: Message) -> bool:
    """Group chatter without a mention: not for us (returning False falls through)."""
    return False
