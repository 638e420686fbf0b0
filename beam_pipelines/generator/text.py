"""Realistic complaint text per category, in the style of each channel (tweets, web forms, SMS, agent notes)."""

from __future__ import annotations

import random

PLACES = [
    "Ikeja",
    "Lekki Phase 1",
    "Surulere",
    "Yaba",
    "Ajah",
    "Victoria Island",
    "Ikorodu",
    "Festac",
    "Wuse 2",
    "Garki",
    "Gwarinpa",
    "Port Harcourt",
    "GRA Phase 2",
    "Ibadan",
    "Bodija",
    "Kano",
    "Enugu",
    "Abeokuta",
    "Benin City",
    "Owerri",
    "Uyo",
    "Kaduna",
    "Jos",
    "Ilorin",
    "Asaba",
    "Calabar",
    "Oshodi",
    "Magodo",
]
PLANS = [
    "MaxData 10GB",
    "MaxData 25GB",
    "Beejan Flex",
    "Beejan Business 100",
    "SmartTalk Pro",
    "Night Plan",
    "Home Fibre 50",
    "Unlimited Lite",
    "Social Bundle",
]
SINCE = [
    "since 6am",
    "since yesterday",
    "for two days",
    "since Monday",
    "all week",
    "since last night",
    "for 3 days now",
    "since morning",
    "on and off all day",
    "since the weekend",
]

NETWORK = [
    "no signal in {place} {since}",
    "my data is not working {since}",
    "calls keep dropping in {place}",
    "4G has been down in {place} {since}",
    "internet is extremely slow, pages won't load",
    "no service at all in {place}, cannot make calls",
    "network outage in {place} {since}",
    "I can't browse even with an active {plan} bundle",
    "the 5G icon shows but nothing loads",
    "my home fibre router keeps disconnecting",
    "calls don't connect, it just beeps and drops",
    "very poor coverage around {place}, one bar at best",
]
BILLING = [
    "I was charged twice for my {plan} bundle",
    "N{amount} was deducted from my airtime without reason",
    "my {plan} subscription renewed without my consent",
    "I was billed N{amount} for a plan I did not subscribe to",
    "recharge of N{amount} did not reflect on my balance",
    "I need a refund of N{amount} for a failed top up",
    "my invoice shows charges for calls I never made",
    "auto-renewal keeps taking money after I cancelled",
    "wrong tariff applied, I'm paying more than advertised",
    "my data balance vanished right after I paid",
]
SERVICE = [
    "your customer care agent was rude and hung up on me",
    "I have been on hold for 45 minutes",
    "no response to my complaint after {days} days",
    "nobody replies to my DMs",
    "the staff at the {place} shop were unhelpful",
    "I was promised a callback that never came",
    "I keep getting passed between agents with no solution",
    "your support closed my ticket without fixing anything",
    "I've called customer service {times} times this week",
]
OTHER = [
    "how do I do a SIM swap for a lost line",
    "please send me the settings for my new phone",
    "is there any promo for students this month",
    "I want to port my number to Beejan",
    "where is the nearest Beejan shop in {place}",
    "my eSIM QR code has not arrived",
    "how do I change the name on my line",
    "what is the code to check my NIN linkage",
]
TEMPLATES = {"Network": NETWORK, "Billing": BILLING, "Customer Service": SERVICE, "Other": OTHER}

ESCALATIONS = [
    "I will report this to the NCC",
    "my lawyer will hear about this",
    "I'm going to cancel and port my number",
    "this is the third time I'm complaining",
    "I run a business and this is costing me money",
    "this is unacceptable",
    "please fix this urgently",
]
EMOJI_NEG = ["😡", "😤", "🤬", "😞", "😭", "👎", "🙄", "💔"]
EMOJI_POS = ["🙏", "👍", "😊"]
HASHTAGS = ["#BeejanFail", "#NoNetwork", "#Lagos", "#customerservice", "#BeejanCare", "#data", "#Abuja"]
SMS_ABBREV = {
    "please": "pls",
    "you": "u",
    "your": "ur",
    "because": "bcos",
    "don't": "dnt",
    "yesterday": "yday",
    "message": "msg",
    "thanks": "thx",
    "network": "netwrk",
    "people": "ppl",
}


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        place=rng.choice(PLACES),
        since=rng.choice(SINCE),
        plan=rng.choice(PLANS),
        amount=rng.choice([500, 1000, 1500, 2000, 3500, 5000, 7500, 10000, 20000]),
        days=rng.randint(2, 9),
        times=rng.choice(["three", "four", "five", "6"]),
    )


def core_sentence(category: str, rng: random.Random) -> str:
    return _fill(rng.choice(TEMPLATES[category]), rng)


def tweet(category: str, rng: random.Random, handle: str = "BeejanCare") -> str:
    text = core_sentence(category, rng)
    parts = [f"@{handle}", text]
    if rng.random() < 0.4:
        parts.append(rng.choice(ESCALATIONS))
    if rng.random() < 0.5:
        parts.append("!!!" if rng.random() < 0.5 else "&amp; still nothing")
    if rng.random() < 0.6:
        parts.append(rng.choice(EMOJI_NEG if category != "Other" else EMOJI_POS))
    if rng.random() < 0.3:
        parts.append(rng.choice(HASHTAGS))
    if rng.random() < 0.2:
        parts.append(f"https://t.co/{rng.randrange(16**8):08x}")
    if rng.random() < 0.1:
        parts.insert(1, "&gt;&gt;")
    return " ".join(parts)


def web_message(category: str, rng: random.Random, name: str) -> tuple[str, str]:
    first = core_sentence(category, rng)
    subject = first[:1].upper() + first[1:60].rstrip(" ,")
    body = [
        "Dear Beejan,",
        f"{first[:1].upper()}{first[1:]}.",
        core_sentence(category, rng).capitalize() + "." if rng.random() < 0.5 else "",
        rng.choice(ESCALATIONS).capitalize() + "." if rng.random() < 0.3 else "",
        "Kindly resolve this as soon as possible.",
        f"Regards, {name}",
    ]
    return subject, "\n".join(line for line in body if line)


def sms_body(category: str, rng: random.Random, long: bool) -> str:
    sentences = [core_sentence(category, rng)]
    if long:
        sentences += [core_sentence(category, rng), rng.choice(ESCALATIONS), core_sentence(category, rng)]
    text = ". ".join(sentences)
    words = [SMS_ABBREV.get(word, word) for word in text.split(" ")]
    return " ".join(words)


def agent_note(category: str, rng: random.Random) -> str:
    opener = rng.choice(["Cust reports", "Caller states", "Customer complained that", "Cx says"])
    note = f"{opener} {core_sentence(category, rng)}."
    action = {
        "Network": "Ticket raised to NOC.",
        "Billing": "Refund request logged, pending approval.",
        "Customer Service": "Apologised, escalated to team lead.",
        "Other": "Advised customer, call closed.",
    }
    if rng.random() < 0.3:
        note += f"\nFollow-up: {action[category]}"
    else:
        note += f" {action[category]}"
    return note
