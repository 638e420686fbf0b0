"""Who complains and about what: channel and category mix, names, regions and numbers of Beejan's customers,
and the customer master the day's complaints refer to."""

from __future__ import annotations

import random

from beam_pipelines.generator import text as texts

CHANNEL_WEIGHTS = {"twitter": 0.35, "webform": 0.20, "sms": 0.30, "phone": 0.15}
CATEGORY_WEIGHTS = {"Network": 0.40, "Billing": 0.30, "Customer Service": 0.20, "Other": 0.10}
FIRST = [
    "Ada",
    "Chinedu",
    "Ngozi",
    "Tunde",
    "Aisha",
    "Emeka",
    "Funmi",
    "Bola",
    "Ibrahim",
    "Kemi",
    "Obinna",
    "Zainab",
    "Segun",
    "Amaka",
    "Yusuf",
    "Tope",
    "Chioma",
    "Musa",
    "Halima",
    "Femi",
    "Nkechi",
    "Uche",
]
LAST = [
    "Kalu",
    "Okafor",
    "Adeyemi",
    "Bello",
    "Balogun",
    "Eze",
    "Ogunleye",
    "Abubakar",
    "Nwosu",
    "Ojo",
    "Danjuma",
    "Okonkwo",
    "Adebayo",
    "Lawal",
    "Mohammed",
    "Obi",
    "Akande",
    "Yakubu",
]
REGIONS = ["Lagos", "Abuja", "Rivers", "Oyo", "Kano", "Enugu", "Ogun", "Edo", "Kaduna", "Delta"]
PREFIXES = [
    "803",
    "806",
    "813",
    "816",
    "703",
    "706",
    "810",
    "814",
    "903",
    "805",
    "807",
    "815",
    "705",
    "905",
    "802",
    "808",
    "812",
    "701",
    "708",
    "902",
    "809",
    "817",
    "818",
    "909",
]
QUEUES = {"Network": "network", "Billing": "billing", "Customer Service": "customer_service", "Other": "general"}
WRAP_UPS = {
    "Network": ["NO_SERVICE", "SLOW_DATA", "CALL_DROPS"],
    "Billing": ["BILL_DISPUTE", "REFUND_REQUEST"],
    "Customer Service": ["AGENT_COMPLAINT", "SERVICE_DELAY"],
    "Other": ["SIM_SWAP", "GENERAL_ENQUIRY"],
}


def random_msisdn(rng: random.Random) -> str:
    return "+234" + rng.choice(PREFIXES) + f"{rng.randrange(10**7):07d}"


def phone_format(e164: str, rng: random.Random) -> str:
    national = "0" + e164[4:]
    style = rng.randrange(5)
    return [
        e164,
        e164[1:],
        national,
        f"{national[:4]} {national[4:7]} {national[7:]}",
        f"{national[:4]}-{national[4:7]}-{national[7:]}",
    ][style]


def make_customers(count: int, rng: random.Random) -> list[dict]:
    customers, seen = [], set()
    for number in range(1, count + 1):
        msisdn = random_msisdn(rng)
        while msisdn in seen:
            msisdn = random_msisdn(rng)
        seen.add(msisdn)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        customers.append(
            {
                "account_number": f"BJN-{number:08d}",
                "msisdn": msisdn,
                "email": f"{first}.{last}{number}@example.com".lower() if rng.random() < 0.8 else "",
                "twitter_handle": f"{first}_{last[:1]}{number}".lower() if rng.random() < 0.6 else "",
                "full_name": f"{first} {last}",
                "segment": rng.choices(["consumer", "business", "vip"], [0.8, 0.15, 0.05])[0],
                "region": rng.choice(REGIONS),
                "plan": rng.choice(texts.PLANS),
                "tenure_months": rng.randint(1, 180),
            }
        )
    return customers
