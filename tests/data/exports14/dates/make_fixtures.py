"""Writes the fixtures of this folder (run once; the files are committed as written).

- hubspot_contacts_2024.csv: a HubSpot contacts export of 2024: every field quoted, LF,
  US phone numbers (``(407) 261-8908``, ``+1 415.555.0199``), ZIP codes (``02139``,
  ``32801-1234``), ``Create Date`` as ``2/5/24 1:51`` (M/D/YY H:MM), a money column
  ``1,250.00``.
- mailchimp_campaigns_2023.csv: a Mailchimp campaigns report of 2023: CRLF, quoted only where
  needed, ``Send Date`` as ``Jun 01, 2023 09:46 pm``, rates as plain percents (``30.65``).
- gsc_dates_en.csv / gsc_dates_fr.csv: Search Console's ``Dates.csv`` (English and French
  interface), newest day first, CTR as ``3.21%``, no final newline.
"""

import csv
import io
import random
from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent
rng = random.Random(14)


def hubspot() -> None:
    header = [
        "Record ID",
        "First Name",
        "Last Name",
        "Email",
        "Phone Number",
        "Postal Code",
        "City",
        "State/Region",
        "Lifecycle Stage",
        "Lead Status",
        "Original Source",
        "Amount of last deal",
        "Create Date",
        "Last Activity Date",
    ]
    cities = [
        ("Orlando", "FL", "32801"),
        ("Cambridge", "MA", "02139"),
        ("San Francisco", "CA", "94107"),
        ("Austin", "TX", "78701"),
    ]
    out = io.StringIO(newline="")
    w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(header)
    start = datetime(2024, 1, 20, 0, 0)
    for i in range(48):
        city, state, zip_ = cities[i % 4]
        if i % 7 == 3:
            zip_ += f"-{rng.randint(1000, 9999)}"
        phone = (
            f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"
            if i % 3
            else f"+1 {rng.randint(201, 989)}.{rng.randint(200, 999)}.{rng.randint(0, 9999):04d}"
        )
        created = start + timedelta(minutes=rng.randint(0, 60 * 24 * 70))
        made = f"{created.month}/{created.day}/{created:%y} {created.hour}:{created:%M}"
        later = created + timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 9))
        last = "" if i % 5 == 0 else f"{later.month}/{later.day}/{later:%y} {later.hour}:{later:%M}"
        stage = rng.choice(["lead", "lead", "marketingqualifiedlead", "customer"])
        amount = (
            "" if stage != "customer" else f"{rng.randint(200, 48000):,}.{rng.randint(0, 99):02d}"
        )
        w.writerow(
            [
                str(30101 + i * 7),
                f"First{i}",
                f"Last{i}",
                f"person{i}@example.com",
                phone,
                zip_,
                city,
                state,
                stage,
                rng.choice(["New", "Open", "In progress", ""]),
                rng.choice(["Organic Search", "Paid Search", "Direct Traffic", "Email Marketing"]),
                amount,
                made,
                last,
            ]
        )
    (HERE / "hubspot_contacts_2024.csv").write_bytes(out.getvalue().encode("utf-8"))


def mailchimp() -> None:
    header = [
        "Title",
        "Subject",
        "List",
        "Send Date",
        "Send Weekday",
        "Total Recipients",
        "Successful Deliveries",
        "Soft Bounces",
        "Hard Bounces",
        "Total Bounces",
        "Times Forwarded",
        "Forwarded Opens",
        "Unique Opens",
        "Open Rate",
        "Total Opens",
        "Unique Clicks",
        "Click Rate",
        "Total Clicks",
        "Unsubscribes",
        "Abuse Complaints",
        "Times Liked on Facebook",
        "Folder Id",
        "Unique Id",
        "Total Orders",
        "Total Gross Sales",
        "Total Revenue",
    ]
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(header)
    when = datetime(2023, 5, 3, 9, 15)
    for i in range(24):
        when += timedelta(days=rng.randint(2, 6), minutes=rng.randint(0, 600))
        hour = when.hour % 12 or 12
        noon = "am" if when.hour < 12 else "pm"
        send = f"{when:%b} {when:%d}, {when:%Y} {hour:02d}:{when:%M} {noon}"
        recipients = rng.randint(800, 5200)
        soft, hard = rng.randint(0, 20), rng.randint(0, 12)
        delivered = recipients - soft - hard
        opens = rng.randint(delivered // 8, delivered // 2)
        clicks = rng.randint(0, opens // 4)
        w.writerow(
            [
                f"Newsletter #{i + 1}, {when:%B}" if i % 4 == 0 else f"Newsletter #{i + 1}",
                "Our news, this week" if i % 2 else "What's new",
                "Main audience",
                send,
                f"{when:%A}",
                recipients,
                delivered,
                soft,
                hard,
                soft + hard,
                0,
                0,
                opens,
                f"{100 * opens / delivered:.2f}",
                opens + rng.randint(0, 300),
                clicks,
                f"{100 * clicks / delivered:.2f}",
                clicks + rng.randint(0, 50),
                rng.randint(0, 9),
                rng.randint(0, 1),
                0,
                0,
                f"{rng.getrandbits(40):010x}",
                0,
                "$0.00",
                "$0.00",
            ]
        )
    (HERE / "mailchimp_campaigns_2023.csv").write_bytes(out.getvalue().encode("utf-8"))


def gsc(name: str, header: list[str]) -> None:
    lines = [",".join(header)]
    day = date(2026, 3, 31)
    while day >= date(2026, 1, 1):
        impressions = rng.randint(200, 2400)
        clicks = rng.randint(0, impressions // 10)
        ctr = f"{100 * clicks / impressions:.2f}%"
        lines.append(f"{day.isoformat()},{clicks},{impressions},{ctr},{rng.uniform(3, 30):.2f}")
        day -= timedelta(days=1)
    (HERE / name).write_bytes("\n".join(lines).encode("utf-8"))


if __name__ == "__main__":
    hubspot()
    mailchimp()
    gsc("gsc_dates_en.csv", ["Date", "Clicks", "Impressions", "CTR", "Position"])
    gsc("gsc_dates_fr.csv", ["Date", "Clics", "Impressions", "CTR", "Position"])
