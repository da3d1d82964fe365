"""A demo home with realistic French data: a few hundred citizens, cases in
every status of every service, payments, queue tickets and vault documents.

Deterministic (seeded), so two demo homes hold the same people and cases.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
from collections import deque
from pathlib import Path
from typing import Any

from .catalog import Service
from .roles import Principal
from .terminal import Terminal

FIRST = ["Hélène", "Jean", "Marie", "Pierre", "Camille", "Louis", "Léa", "Hugo", "Chloé", "Lucas", "Manon",
         "Gabriel", "Inès", "Arthur", "Zoé", "Raphaël", "Jade", "Nathan", "Élodie", "Théo", "Amélie", "François",
         "Céline", "Noël", "Anaïs", "Jérôme", "Maëlle", "Benoît", "Sébastien", "Agnès", "Mohamed", "Fatima",
         "Yasmine", "Karim", "Sofia", "Thi Lan", "Nguyen", "Aïcha", "Mamadou", "Océane"]
LAST = ["Dupont", "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
        "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent",
        "Fournier", "Morel", "Girard", "André", "Lefebvre", "Mercier", "Boyer", "Blanc", "Guérin", "Muller",
        "Faure", "Rousseau", "Benali", "Diallo", "Nguyen", "Le Goff", "Ménard", "Béranger", "Côté", "Saint-Just"]
STREETS = ["rue de la République", "avenue Jean-Jaurès", "boulevard Victor-Hugo", "rue Pasteur",
           "place de la Mairie", "rue des Écoles", "allée des Tilleuls", "chemin du Moulin", "rue Émile-Zola",
           "impasse des Lilas", "quai de la Loire", "rue du Général-de-Gaulle"]
POSTCODES = ["49000", "49100", "49130", "49240"]
ITEMS = ["un canapé trois places", "un réfrigérateur", "une armoire démontée", "deux matelas",
         "une machine à laver", "un lot de chaises", "une table en chêne"]
DEMO_AGENTS = [("agent", "Claire Moreau", "246810", "agent"), ("ops", "Julien Faure", "135790", "ops")]


def _citizen(rng: random.Random) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 65))
    return {
        "first_name": first, "last_name": last, "birth_date": born.isoformat(),
        "postcode": rng.choice(POSTCODES), "phone": f"06{rng.randrange(10**8):08d}",
        "address": f"{rng.randrange(1, 140)} {rng.choice(STREETS)}",
        "email": f"{first.split()[0].lower()}.{last.lower().replace(' ', '')}@exemple.fr".encode("ascii", "ignore").decode(),
    }


def _next_weekday(rng: random.Random, today: dt.date) -> dt.date:
    day = today + dt.timedelta(days=rng.randrange(3, 40))
    while day.isoweekday() > 5:
        day += dt.timedelta(days=1)
    return day


def sample_fields(code: str, rng: random.Random, citizen: dict[str, Any], today: dt.date) -> dict[str, Any]:
    """Plausible form input for a service, as an agent would type it."""
    if code == "encombrants":
        return {"address": citizen["address"], "items": rng.choice(ITEMS), "volume_m3": str(rng.randint(1, 4)),
                "slot": f"{_next_weekday(rng, today).isoformat()} {rng.choice(['matin', 'apres-midi'])}"}
    if code == "acte-naissance":
        return {"last_name": citizen["last_name"], "first_names": citizen["first_name"],
                "birth_date": citizen["birth_date"], "copy_kind": rng.choice(["integrale", "extrait-filiation"]),
                "relationship": "titulaire", "delivery": rng.choice(["guichet", "courrier"])}
    if code == "acte-mariage-deces":
        event = today - dt.timedelta(days=rng.randrange(30, 9000))
        return {"act_kind": rng.choice(["mariage", "deces"]), "names": f"{citizen['first_name']} {citizen['last_name']}",
                "event_date": event.isoformat(), "copy_kind": "integrale", "delivery": "guichet"}
    if code == "declaration-prealable":
        return {"parcel": f"{rng.choice(['AB', 'BK', 'C', 'ZA'])} {rng.randrange(1, 999):04d}",
                "work_address": citizen["address"], "work_kind": rng.choice(["cloture", "abri", "panneaux", "facade"]),
                "floor_area_m2": str(rng.randrange(0, 20)), "description": "Travaux décrits dans le Cerfa joint."}
    if code == "signalement":
        if rng.random() < 0.5:
            location = f"{47.47 + rng.random() / 50:.5f},{-0.56 + rng.random() / 50:.5f}"
        else:
            location = f"{rng.randrange(1, 80)} {rng.choice(STREETS)}"
        category = rng.choice(["eclairage", "chaussee", "signalisation", "mobilier", "proprete"])
        text = {"eclairage": "Lampadaire éteint depuis trois jours", "chaussee": "Nid-de-poule dangereux pour les vélos",
                "signalisation": "Panneau stop tordu", "mobilier": "Banc cassé", "proprete": "Dépôt sauvage sur le trottoir"}
        return {"category": category, "location": location, "description": text[category]}
    if code == "inscription-scolaire":
        born = today - dt.timedelta(days=365 * rng.randint(3, 9) + rng.randrange(300))
        return {"child_last_name": citizen["last_name"], "child_first_name": rng.choice(FIRST),
                "child_birth_date": born.isoformat(), "level": rng.choice(["PS", "MS", "CP", "CE1", "CM1"]),
                "school_year": f"{today.year}-{today.year + 1}", "canteen": rng.choice(["oui", "non"])}
    if code == "facture-municipale":
        return {"bill_kind": rng.choice(["cantine", "garderie", "loisirs"]),
                "bill_reference": f"FAC-{today.year}-{rng.randrange(10**5):05d}",
                "amount_cents": str(rng.randrange(1500, 25000))}
    if code == "forfait-post-stationnement":
        return {"notice_number": f"{rng.randrange(10**12):012d}", "plate": f"{rng.choice(['AB', 'FG', 'HZ'])}-"
                f"{rng.randrange(100, 999)}-{rng.choice(['CD', 'KL', 'TX'])}", "amount_cents": "3500"}
    if code == "coffre-fort":
        return {"document_kind": rng.choice(["identite", "domicile", "impots"]), "title": "Justificatif déposé au guichet"}
    raise ValueError(f"no demo fields for {code}")


def _paths(service: Service) -> dict[str, list[str]]:
    """Shortest move sequence from the initial status to every status."""
    paths: dict[str, list[str]] = {service.initial: []}
    todo = deque([service.initial])
    while todo:
        status = todo.popleft()
        for target in service.transitions[status]:
            if target not in paths:
                paths[target] = paths[status] + [target]
                todo.append(target)
    return paths


def _pdf(title: str) -> bytes:
    from fpdf import FPDF
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=14)
    pdf.cell(0, 10, title)
    return bytes(pdf.output())


def populate(terminal: Terminal, citizens: int = 300, seed: int = 1789) -> dict[str, Any]:
    rng = random.Random(seed)
    today = dt.date.today()
    ops = terminal.session(Principal.system())
    for agent_id, name, pin, role in DEMO_AGENTS:
        ops.agents.enroll(agent_id, name, pin, role)
    desk = terminal.session(Principal.agent("agent"))
    people = []
    for n in range(citizens):
        raw = _citizen(rng)
        if n == 0:  # the README's search example
            raw.update(first_name="Hélène", last_name="Dupont", birth_date="1985-03-12", postcode="49000",
                       email="helene.dupont@exemple.fr")
        people.append({**raw, **desk.citizens.register(**raw)})
    cases = 0
    for service in terminal.catalog:
        for _status, path in sorted(_paths(service).items()):
            for _ in range(3):
                person = rng.choice(people)
                case = desk.cases.open(service.code, person["id"], sample_fields(service.code, rng, person, today))
                cases += 1
                payment = None
                for step in path:
                    if step == "paid":
                        payment = desk.payments.take(case["id"], case["fee_cents"], rng.choice(["cash", "card", "cheque"]))
                        continue
                    if step == "refunded" and payment:
                        desk.payments.refund(payment["id"], payment["amount_cents"], "Facture annulée par le service")
                    desk.cases.move(case["id"], step)
                if rng.random() < 0.3:
                    desk.cases.note(case["id"], "Pièces vérifiées au guichet.")
    for person in people[:12]:
        desk.vault.deposit(person["id"], "justificatif-domicile.pdf",
                           _pdf(f"Justificatif de domicile - {person['first_name']} {person['last_name']}"), "domicile")
    for family in ("E", "V", "P", "E", "U", "S", "E", "V"):
        desk.queue.issue(family)
    return {"home": str(terminal.home), "citizens": len(people), "cases": cases,
            "agents": [{"id": a, "pin": p, "role": r} for a, _, p, r in DEMO_AGENTS]}


def ensure_demo_home(home: Path, citizens: int = 300, reset: bool = False) -> dict[str, Any]:
    """Create the demo home unless it exists (``reset`` recreates it)."""
    home = Path(home)
    if reset and home.exists():
        shutil.rmtree(home)
    if (home / "terminal.json").exists():
        with Terminal.open(home) as terminal:
            return {"home": str(home), "citizens": terminal.conn.execute("SELECT count(*) FROM citizens").fetchone()[0],
                    "cases": terminal.conn.execute("SELECT count(*) FROM cases").fetchone()[0], "existing": True}
    with Terminal.init(home, "MAIRIE-01", "Ville d'Angers (démo)") as terminal:
        return populate(terminal, citizens)
