#!/usr/bin/python3
"""Generate the sample data under samples/data/ for the lakehouse demo.

The output is fully deterministic: a fixed seed drives a small built-in
pseudo-random generator (no use of the `random` module, whose algorithms may
change between Python versions, and nothing derived from the clock), so the
same script always writes byte-identical files.

Regenerate (standard library only):

    /usr/bin/python3 samples/generate.py            # writes samples/data/
    /usr/bin/python3 samples/generate.py --out DIR  # writes somewhere else

then commit the changed files under samples/data/.

    /usr/bin/python3 samples/generate.py --kafka-out DIR

writes instead the messages of the Kafka topic user_events, one file per
partition (user_events.p0.kcat ...: a line per message, key TAB value, as
`kcat -P -K '\t'` reads them).  scripts/demo.sh runs it at demo time and
produces the files into its Kafka mock; they are not committed (some are
deliberately not UTF-8).  The events are clicks, searches, carts and
purchases of the sample's customers and products; a few break a silver rule
(DIRTY_EVENTS), a few cannot land at all (POISON_EVENTS: truncated JSON,
Latin-1 text, a message over the demo's lakehouse.max_message_bytes), and
about 1% are sent twice, as an at-least-once producer does.

What it writes:

    data/orders_2024_q1.csv   orders placed Jan-Mar 2024, with status updates
    data/orders_2024_q2.csv   orders placed Apr-Jun 2024, plus later status
                              updates of Q1 orders (same order_id, newer
                              updated_at: the silver stage keeps the newest)
    data/customers.jsonl      one JSON object per line (nested address)
    data/products.csv         the "production" products table, loaded by
                              demo.sql into prod.products with COPY
    data/returns.csv          returns of delivered orders

Every file carries a few deliberately dirty rows (about 0.5% of the orders,
a few per file elsewhere) so that the demo shows quarantine and dead
letters at work: an impossible timestamp, text in a number column, a missing
required field, a negative quantity or amount, one line of invalid JSON.
The dirty rows are listed in the DIRTY_* tables below.
"""

import argparse
import csv
import json
import os

SEED = 20240701

# Reference date of the data set (also the RFM reference date in orders.yaml).
FIRST_DAY = (2024, 1, 1)
LAST_DAY = (2024, 6, 30)

N_CUSTOMERS = 400
N_PRODUCTS = 200
N_ORDERS = 3000
N_RETURNS = 300


class Rng:
    """splitmix64: tiny, fast, and stable forever (unlike `random`)."""

    MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state = seed & self.MASK

    def next64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def random(self):
        """Float in [0, 1)."""
        return (self.next64() >> 11) / float(1 << 53)

    def randint(self, lo, hi):
        """Integer in [lo, hi], both ends included."""
        return lo + self.next64() % (hi - lo + 1)

    def choice(self, seq):
        return seq[self.next64() % len(seq)]

    def chance(self, p):
        return self.random() < p


# --------------------------------------------------------------------------
# Calendar helpers (no datetime.now(), no time zones: everything is UTC).
# --------------------------------------------------------------------------

def days_from_civil(y, m, d):
    """Days since 1970-01-01 (Howard Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return (y + (m <= 2), m, d)


def iso_date(day):
    y, m, d = civil_from_days(day)
    return "%04d-%02d-%02d" % (y, m, d)


def iso_ts(seconds, style=0):
    """UTC timestamp from seconds since the epoch, in one of a few spellings
    that real exports use (all valid timestamptz input)."""
    day, rest = divmod(seconds, 86400)
    hh, rest = divmod(rest, 3600)
    mi, ss = divmod(rest, 60)
    date = iso_date(day)
    if style == 1:
        return "%s %02d:%02d:%02d+00" % (date, hh, mi, ss)
    return "%sT%02d:%02d:%02dZ" % (date, hh, mi, ss)


def ts_seconds(y, m, d, hh=0, mi=0, ss=0):
    return days_from_civil(y, m, d) * 86400 + hh * 3600 + mi * 60 + ss


# --------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------

FIRST_NAMES = [
    "Alice", "Bruno", "Chen", "Dana", "Elif", "Farah", "Giulia", "Hugo",
    "Ines", "Jonas", "Kofi", "Lena", "Mateo", "Nora", "Olu", "Priya",
    "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Ximena",
    "Yusuf", "Zoë", "José", "Łucja", "Søren", "Aiko",
]
LAST_NAMES = [
    "Smith", "Okafor", "Müller", "García", "Rossi", "Nguyen", "Kowalski",
    "Haddad", "Johansson", "Tanaka", "Silva", "Dubois", "Novak", "Patel",
    "Ivanova", "O'Brien", "Álvarez", "Kim", "Brown", "Fischer",
]
COUNTRIES = [
    ("US", ["New York", "Austin", "Denver", "Seattle"]),
    ("DE", ["Berlin", "Hamburg", "München"]),
    ("FR", ["Paris", "Lyon"]),
    ("GB", ["London", "Leeds"]),
    ("ES", ["Madrid", "Sevilla"]),
    ("IT", ["Milano", "Roma"]),
    ("NL", ["Amsterdam", "Utrecht"]),
    ("PL", ["Kraków", "Warszawa"]),
    ("JP", ["Tokyo", "Osaka"]),
    ("BR", ["São Paulo", "Recife"]),
]
CATEGORIES = {
    "apparel": ["T-shirt", "Hoodie", "Rain jacket", "Wool socks", "Cap"],
    "footwear": ["Trail runner", "Sneaker", "Sandal", "Hiking boot"],
    "home": ["Mug", "Lamp", "Throw blanket", "Cutting board", "Vase"],
    "outdoor": ["Tent", "Sleeping bag", "Headlamp", "Water bottle"],
    "electronics": ["Earbuds", "Power bank", "USB-C cable", "Smart plug"],
}
ADJECTIVES = ["Classic", "Ultra", "Eco", "Compact", "Pro", "Nordic", "Urban",
              "Alpine", "Everyday", "Deluxe"]
RETURN_REASONS = ["damaged", "wrong size", "not as described", "changed mind",
                  "late delivery", "defective"]


ASCII_FOLD = str.maketrans("äáàãéëíóöøúüçñłśÁÉÍÓÚŁ", "aaaaeeiooouucnlsAEIOUL")


def ascii_fold(text):
    """E-mail local parts stay ASCII (lower() of non-ASCII letters depends on
    the database locale, and the demo output should not)."""
    return text.translate(ASCII_FOLD).replace("ß", "ss")


def messy(rng, text, casing=True):
    """How humans and upstream systems spell things: stray blanks, odd case."""
    r = rng.random()
    if casing and r < 0.10:
        text = text.upper()
    elif casing and r < 0.18:
        text = text.title()
    r = rng.random()
    if r < 0.06:
        text = " " + text
    elif r < 0.12:
        text = text + "  "
    return text


# --------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------

def make_customers(rng):
    rows = []
    for cid in range(1, N_CUSTOMERS + 1):
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        country, cities = rng.choice(COUNTRIES)
        local = "%s.%s%d" % (ascii_fold(first), ascii_fold(last).replace("'", ""), cid)
        email = local + "@" + rng.choice(["example.com", "example.org", "mail.example.net"])
        email = messy(rng, email, casing=False)
        if rng.chance(0.15):
            email = email.upper() if rng.chance(0.5) else email[0].upper() + email[1:]
        if rng.chance(0.03):
            email = ""                      # unknown: nullif_empty makes it NULL
        signup = rng.randint(days_from_civil(2022, 1, 1), days_from_civil(2024, 3, 31))
        cc = country if rng.chance(0.7) else (country.lower() if rng.chance(0.5) else " " + country.lower())
        rec = {
            "customer_id": cid,
            "name": messy(rng, "%s %s" % (first, last), casing=False),
            "email": email,
            "country": cc,
            "address": {"city": rng.choice(cities),
                        "zip": "%05d" % rng.randint(1000, 99999)},
            "signup_date": iso_date(signup),
            "marketing_opt_in": rng.chance(0.4),
        }
        if rng.chance(0.1):
            rec["phone"] = "+%d %03d %04d" % (rng.randint(1, 99), rng.randint(0, 999), rng.randint(0, 9999))
        rows.append(rec)
    return rows


# Dirty customers: appended to the JSON-lines file at fixed positions.
# (position in file, raw line)
DIRTY_CUSTOMERS = [
    # missing required customer_id
    (57, '{"name": "Ghost Customer", "email": "ghost@example.com", "country": "US", '
         '"address": {"city": "Austin", "zip": "73301"}, "signup_date": "2023-05-01"}'),
    # text in the bigint key
    (141, '{"customer_id": "C-0142", "name": "Legacy Import", "email": "legacy@example.com", '
          '"country": "de", "address": {"city": "Berlin", "zip": "10115"}, "signup_date": "2022-11-30"}'),
    # impossible date
    (233, '{"customer_id": 9001, "name": "Feb Thirty", "email": "feb30@example.com", '
          '"country": "FR", "address": {"city": "Paris", "zip": "75001"}, "signup_date": "2023-02-30"}'),
    # not JSON at all (truncated line): lands in lakehouse.dead_letters
    (318, '{"customer_id": 9002, "name": "Truncated Export", "email": "trunc@exa'),
]


def make_products(rng):
    rows = []
    base = ts_seconds(2023, 12, 1)
    cats = sorted(CATEGORIES)
    for pid in range(1, N_PRODUCTS + 1):
        cat = cats[(pid - 1) % len(cats)]
        noun = rng.choice(CATEGORIES[cat])
        name = "%s %s" % (rng.choice(ADJECTIVES), noun)
        cents = rng.randint(399, 24999)
        cents = cents // 100 * 100 + 99        # x.99 prices
        # Distinct updated_at per product: one row every 37 minutes or so.
        updated = base + pid * 2221 + rng.randint(0, 600)
        rows.append({
            "product_id": pid,
            "sku": "SKU-%05d" % (1000 + pid),
            "name": name,
            "category": cat,
            "list_price": "%d.%02d" % (cents // 100, cents % 100),
            "updated_at": iso_ts(updated),
        })
    # Dirty products (they live in a typed production table, so the dirt is
    # what a typed column still lets through).
    rows[-2]["list_price"] = "-12.00"      # negative price: non_negative rule
    rows[-1]["name"] = "   "               # blank name: required after trim/nullif_empty
    return rows


# Dirty orders: (file, position, row without the order_id, comment).
# Each uses an order_id of its own so that de-duplication never hides it.
DIRTY_ORDERS = {
    "q1": [
        (61, {"customer_id": "17", "quantity": "2", "unit_price": "19.99",
              "order_ts": "2024-02-30T10:00:00Z"}, "impossible date"),
        (388, {"customer_id": "212", "quantity": "two", "unit_price": "5.99"},
         "text in an integer column"),
        (702, {"customer_id": "", "quantity": "1", "unit_price": "49.99"},
         "missing required customer_id"),
        (955, {"customer_id": "88", "quantity": "-3", "unit_price": "12.99"},
         "negative quantity"),
        (1204, {"customer_id": "131", "quantity": "1", "unit_price": "12,50"},
         "decimal comma in a numeric column"),
        (1377, {"customer_id": "5", "quantity": "1", "unit_price": "29.99",
                "order_ts": "31/03/2024 14:22"}, "unparseable timestamp"),
        (1450, {"order_id": "", "customer_id": "44", "quantity": "2", "unit_price": "9.99"},
         "missing required order_id"),
    ],
    "q2": [
        (140, {"customer_id": "C-301", "quantity": "1", "unit_price": "15.99"},
         "text in a bigint column"),
        (499, {"customer_id": "19", "quantity": "-1", "unit_price": "74.99"},
         "negative quantity"),
        (873, {"customer_id": "260", "quantity": "4", "unit_price": "-8.99"},
         "negative unit price"),
        (1011, {"customer_id": "33", "quantity": "1", "unit_price": "39.99",
                "order_ts": "not a timestamp"}, "unparseable timestamp"),
        (1299, {"customer_id": "71", "quantity": "", "unit_price": "24.99"},
         "missing required quantity"),
        (1533, {"customer_id": "149", "quantity": "3", "unit_price": "9.99",
                "order_ts": "2024-06-31T09:30:00Z"}, "impossible date"),
    ],
}

ORDER_FIELDS = ["order_id", "customer_id", "sku", "quantity", "unit_price",
                "order_ts", "status", "updated_at"]
STATUS_FLOW = ["shipped", "delivered"]


def make_orders(rng, products):
    """Return (q1_rows, q2_rows, clean_orders).  clean_orders maps order_id to
    the order's final state, for returns."""
    clean_products = products[:-2]          # never order the two dirty ones
    first = ts_seconds(*FIRST_DAY)
    last = ts_seconds(*LAST_DAY, 23, 59, 59)
    q2_start = ts_seconds(2024, 4, 1)
    span = last - first

    # Order times: sorted uniform draws with a gentle upward trend.
    times = sorted(first + int(span * (rng.random() ** 0.85)) for _ in range(N_ORDERS))

    events = []                             # (updated_at, file, row)
    final = {}
    for i, ts in enumerate(times):
        oid = 100001 + i
        # A few heavy customers, many occasional ones (makes RFM interesting).
        cid = 1 + int(N_CUSTOMERS * (rng.random() ** 1.4))
        prod = rng.choice(clean_products)
        qty = rng.choice([1, 1, 1, 1, 2, 2, 3, 4, 5])
        price = prod["list_price"]
        if rng.chance(0.12):                # discounted
            cents = int(price.replace(".", ""))
            cents = cents * 85 // 100
            price = "%d.%02d" % (cents // 100, cents % 100)
        sku = prod["sku"]
        if rng.chance(0.05):
            sku = " " + sku.lower()          # trim + upper in silver
        style = 1 if rng.chance(0.2) else 0
        placed = {
            "order_id": str(oid), "customer_id": str(cid), "sku": sku,
            "quantity": str(qty), "unit_price": price,
            "order_ts": iso_ts(ts, style), "status": messy(rng, "placed"),
            "updated_at": iso_ts(ts, style),
        }
        fname = "q1" if ts < q2_start else "q2"
        events.append((ts, fname, placed))
        state = dict(placed, status="placed")

        # Status updates for some orders: same order_id, newer updated_at.
        if rng.chance(0.10):
            t = ts
            steps = ["cancelled"] if rng.chance(0.2) else STATUS_FLOW[:rng.randint(1, 2)]
            for st in steps:
                t += rng.randint(3600, 4 * 86400)
                upd = dict(placed, status=messy(rng, st), updated_at=iso_ts(t))
                # An update lands in the file of the quarter it happened in.
                events.append((t, "q1" if t < q2_start else "q2", upd))
                state = dict(upd, status=st)
        # An at-least-once export now and then: the very same row twice.
        if rng.chance(0.004):
            events.append((ts, fname, dict(placed)))
        final[oid] = state

    events.sort(key=lambda e: (e[0], int(e[2]["order_id"])))
    files = {"q1": [], "q2": []}
    for _, fname, row in events:
        files[fname].append(row)

    next_bad_id = 100001 + N_ORDERS + 500
    for fname in ("q1", "q2"):
        rows = files[fname]
        for pos, partial, _why in DIRTY_ORDERS[fname]:
            prod = rng.choice(clean_products)
            template = rows[min(pos, len(rows) - 1)]
            bad = {
                "order_id": str(next_bad_id), "sku": prod["sku"],
                "status": "placed", "order_ts": template["order_ts"],
                "updated_at": template["updated_at"],
            }
            next_bad_id += 1
            bad.update(partial)
            rows.insert(pos, bad)
    return files["q1"], files["q2"], final


DIRTY_RETURNS = [
    (23, {"amount": "-19.99"}, "negative amount"),
    (97, {"return_date": "2024-04-31"}, "impossible date"),
    (158, {"return_id": ""}, "missing required return_id"),
    (211, {"reason": "   "}, "blank reason (required)"),
    (266, {"amount": "n/a"}, "text in a numeric column"),
]
RETURN_NOTES = [
    "", "", "", "", "",
    "Box was \"crushed\", item scratched",
    "Customer says: too small, wants M",
    "Arrived after the event; refund requested",
    "Two items in one parcel,\nonly one returned",
]
RETURN_FIELDS = ["return_id", "order_id", "sku", "reason", "amount",
                 "return_date", "note"]


def make_returns(rng, final_orders):
    eligible = [o for oid, o in sorted(final_orders.items())
                if o["status"] != "cancelled"
                and o["order_ts"][:10] <= "2024-06-10"]
    chosen = []
    seen = set()
    while len(chosen) < N_RETURNS:
        o = rng.choice(eligible)
        if o["order_id"] in seen:
            continue
        seen.add(o["order_id"])
        chosen.append(o)
    chosen.sort(key=lambda o: int(o["order_id"]))
    rows = []
    for i, o in enumerate(chosen):
        y, m, d = (int(x) for x in o["order_ts"][:10].split("-"))
        day = days_from_civil(y, m, d) + rng.randint(3, 20)
        qty = rng.randint(1, int(o["quantity"]))
        cents = int(o["unit_price"].replace(".", "")) * qty
        rows.append({
            "return_id": str(5001 + i),
            "order_id": o["order_id"],
            "sku": o["sku"].strip().upper(),
            "reason": messy(rng, rng.choice(RETURN_REASONS)),
            "amount": "%d.%02d" % (cents // 100, cents % 100),
            "return_date": iso_date(day),
            "note": rng.choice(RETURN_NOTES),
        })
    for j, (pos, partial, _why) in enumerate(DIRTY_RETURNS):
        bad = dict(rows[pos], return_id=str(5001 + N_RETURNS + j))
        bad.update(partial)
        rows.insert(pos, bad)
    return rows


# --------------------------------------------------------------------------
# Kafka: the user_events topic (not committed; see make_user_events)
# --------------------------------------------------------------------------

N_EVENTS = 3000
EVENT_PARTITIONS = 3
EVENTS_START = ts_seconds(2024, 7, 1, 8, 0, 0)
# (type, weight): a shop's click stream, most of it browsing.
EVENT_TYPES = [("page_view", 55), ("search", 12), ("login", 10),
               ("add_to_cart", 15), ("purchase", 8)]
DEVICES = ["web", "web", "web", "ios", "android", "android"]
SEARCH_TERMS = ["tent", "rain jacket", "usb-c", "mug", "trail runner", "headlamp",
                "wool socks", "power bank", "hoodie", "lamp"]

# Events that land in bronze but break a silver rule (quarantine):
# (index in the event stream, fields to change, why).
DIRTY_EVENTS = [
    (411, {"amount": "-19.99"}, "negative amount"),
    (1207, {"ts": "2024-07-01T24:30:00Z"}, "impossible time of day"),
    (1858, {"user_id": None}, "missing required user_id"),
    (2544, {"user_id": "guest"}, "text in a bigint column"),
]

# Messages that cannot land at all (dead letters): (partition, position in
# that partition's stream, key, raw bytes, why).  The oversize one is only
# oversize because kafka_demo.sql sets lakehouse.max_message_bytes to 4kB
# for the demo database; it lands once the limit is raised and it is replayed.
POISON_EVENTS = [
    (0, 150, b"user-0012",
     b'{"event_id": 900001, "user_id": 12, "type": "page_view", "ts": "2024-07-01T08:2',
     "truncated JSON"),
    (1, 420, b"user-0013",
     b'{"event_id": 900002, "user_id": 13, "type": "search", "ts": "2024-07-01T09:00:00Z", '
     b'"device": "web", "query": "caf\xe9 mug"}',
     "Latin-1 text, not UTF-8"),
    (2, 700, b"user-0014",
     ('{"event_id": 900003, "user_id": 14, "type": "page_view", "ts": "2024-07-01T10:00:00Z", '
      '"device": "web", "page": "/search", "debug": "%s"}' % ("x" * 6000)).encode("ascii"),
     "6 kB: over the demo's lakehouse.max_message_bytes (4kB)"),
]


def make_user_events(rng, products):
    """Return {partition: [(key, message bytes), ...]} for the user_events topic.

    N_EVENTS JSON events of the customers of the orders sample (user_id =
    customer_id), in partition user_id % EVENT_PARTITIONS with key
    "user-NNNN", plus re-sent duplicates (an at-least-once producer: the same
    event_id again, which silver de-duplicates), DIRTY_EVENTS (quarantine) and
    POISON_EVENTS (dead letters).  The tombstone of the demo is not here: a
    message without a value cannot be written as a line (demo.sh sends it
    with lh_kafka_mock --send)."""
    clean_products = products[:-2]
    weights = []
    for name, w in EVENT_TYPES:
        weights += [name] * w
    events = []
    t = EVENTS_START
    for i in range(N_EVENTS):
        t += rng.randint(0, 4)
        uid = 1 + int(N_CUSTOMERS * (rng.random() ** 1.4))
        etype = rng.choice(weights)
        ev = {"event_id": i + 1, "user_id": uid,
              "type": etype if not rng.chance(0.05) else etype.upper(),
              "ts": iso_ts(t), "device": rng.choice(DEVICES)}
        if etype == "page_view":
            ev["page"] = "/p/" + rng.choice(clean_products)["sku"]
        elif etype == "search":
            ev["query"] = rng.choice(SEARCH_TERMS)
        elif etype in ("add_to_cart", "purchase"):
            prod = rng.choice(clean_products)
            qty = rng.choice([1, 1, 1, 2, 3])
            ev["sku"] = prod["sku"]
            ev["quantity"] = qty
            if etype == "purchase":
                cents = int(prod["list_price"].replace(".", "")) * qty
                ev["amount"] = "%d.%02d" % (cents // 100, cents % 100)
        if rng.chance(0.03):
            del ev["device"]                # old app versions: default "unknown"
        events.append(ev)
    for idx, change, _why in DIRTY_EVENTS:
        events[idx].update(change)
        if "amount" in change:
            events[idx]["type"] = "purchase"

    parts = {p: [] for p in range(EVENT_PARTITIONS)}
    for ev in events:
        if isinstance(ev["user_id"], int):
            key = ("user-%04d" % ev["user_id"]).encode("ascii")
            part = ev["user_id"] % EVENT_PARTITIONS
        else:                               # a dirty event without a usable user
            key = b"anonymous"
            part = ev["event_id"] % EVENT_PARTITIONS
        msg = json.dumps(ev, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8")
        parts[part].append((key, msg))
        if rng.chance(0.01):                # a producer retry: the same message again
            parts[part].append((key, msg))
    for part, pos, key, raw, _why in POISON_EVENTS:
        parts[part].insert(pos, (key, raw))
    return parts


def write_kafka_lines(path, messages):
    """One message per line as kcat -P -K '\\t' reads them: key, tab, value."""
    with open(path, "wb") as f:
        for key, value in messages:
            if b"\n" in key + value or b"\t" in key or not value:
                raise ValueError("message not representable as a kcat line: %r" % value[:60])
            f.write(key + b"\t" + value + b"\n")


# --------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------

def write_csv(path, fields, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})


def write_jsonl(path, rows, dirty):
    lines = [json.dumps(r, ensure_ascii=False, separators=(", ", ": ")) for r in rows]
    for pos, raw in dirty:
        lines.insert(pos, raw)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line + "\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "data"),
                    help="output directory (default: samples/data next to this script)")
    ap.add_argument("--kafka-out", metavar="DIR",
                    help="write only the Kafka messages of the user_events topic to DIR "
                         "(user_events.pN.kcat, one per partition), not samples/data")
    args = ap.parse_args()

    if args.kafka_out:
        os.makedirs(args.kafka_out, exist_ok=True)
        parts = make_user_events(Rng(SEED + 5), make_products(Rng(SEED + 2)))
        for part, messages in sorted(parts.items()):
            name = "user_events.p%d.kcat" % part
            write_kafka_lines(os.path.join(args.kafka_out, name), messages)
            print("%-20s %5d messages" % (name, len(messages)))
        return

    os.makedirs(args.out, exist_ok=True)
    # One generator per file, each with its own derived seed: changing how
    # one file is generated does not reshuffle the others.
    customers = make_customers(Rng(SEED + 1))
    products = make_products(Rng(SEED + 2))
    q1, q2, final = make_orders(Rng(SEED + 3), products)
    returns = make_returns(Rng(SEED + 4), final)

    write_jsonl(os.path.join(args.out, "customers.jsonl"), customers, DIRTY_CUSTOMERS)
    write_csv(os.path.join(args.out, "products.csv"),
              ["product_id", "sku", "name", "category", "list_price", "updated_at"],
              products)
    write_csv(os.path.join(args.out, "orders_2024_q1.csv"), ORDER_FIELDS, q1)
    write_csv(os.path.join(args.out, "orders_2024_q2.csv"), ORDER_FIELDS, q2)
    write_csv(os.path.join(args.out, "returns.csv"), RETURN_FIELDS, returns)

    for name, n in [("customers.jsonl", len(customers) + len(DIRTY_CUSTOMERS)),
                    ("products.csv", len(products)),
                    ("orders_2024_q1.csv", len(q1)),
                    ("orders_2024_q2.csv", len(q2)),
                    ("returns.csv", len(returns))]:
        print("%-20s %5d records" % (name, n))


if __name__ == "__main__":
    main()
