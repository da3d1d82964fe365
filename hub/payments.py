"""Payments and refunds. Each one gets a receipt number from this terminal's
gapless sequence; a refund is a new event with its own receipt, never an edit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import Invalid, NotFound
from .projections import MERGED_UNDER, row_dicts

if TYPE_CHECKING:
    from .session import Session

METHODS = ("cash", "card", "cheque")
MAX_CENTS = 10_000_000  # 100,000 € : beyond this a counter payment is a typing mistake


def _check(amount_cents: Any, method: str) -> int:
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise Invalid("the amount must be a whole number of cents", "le montant doit être un nombre entier de centimes")
    if not 0 < amount_cents <= MAX_CENTS:
        raise Invalid(f"the amount must be between 1 and {MAX_CENTS} cents",
                      f"le montant doit être compris entre 1 et {MAX_CENTS} centimes")
    if method not in METHODS:
        raise Invalid(f"payment method must be one of {', '.join(METHODS)}",
                      f"le moyen de paiement doit être l'un de {', '.join(METHODS)}")
    return amount_cents


class Payments:
    def __init__(self, session: "Session") -> None:
        self.session = session

    def _next_receipt(self) -> tuple[int, str]:
        terminal = self.session.terminal
        seq = terminal.conn.execute("SELECT coalesce(max(receipt_seq), 0) + 1 FROM payments WHERE origin=?",
                                    (terminal.id,)).fetchone()[0]
        return seq, f"{terminal.name}-{seq:06d}"

    def take(self, case_key: str, amount_cents: int, method: str) -> dict[str, Any]:
        """Record a payment on a case; when it settles the fee of a case that was
        awaiting payment, the case moves to ``paid`` in the same transaction."""
        who = self.session.principal
        who.require("payment.write")
        amount_cents = _check(amount_cents, method)
        case = self.session.cases.get(case_key)
        service = self.session.catalog.get(case["service"])
        with self.session.terminal.writing() as w:
            seq, number = self._next_receipt()
            data = {"id": self.session.terminal.new_id(), "case_id": case["id"], "amount_cents": amount_cents, "method": method,
                    "receipt_seq": seq, "receipt_number": number}
            w.record(who, "payment.taken", f"case:{case['id']}", data)
            due = case["fee_cents"]
            if case["paid_cents"] + amount_cents >= due > 0 and service.can_move(case["status"], "paid"):
                w.record(who, "case.status_changed", f"case:{case['id']}",
                         {"id": case["id"], "from": case["status"], "to": "paid", "reason": number})
        return self.get(data["id"])

    def refund(self, payment_id: str, amount_cents: int, reason: str) -> dict[str, Any]:
        who = self.session.principal
        who.require("payment.write")
        original = self.get(payment_id)
        if original["kind"] != "payment":
            raise Invalid("only a payment can be refunded", "seul un paiement peut être remboursé")
        amount_cents = _check(amount_cents, original["method"])
        refunded = self.session.conn.execute(
            "SELECT coalesce(sum(amount_cents), 0) FROM payments WHERE refund_of=?", (payment_id,)).fetchone()[0]
        if amount_cents > original["amount_cents"] - refunded:
            raise Invalid(f"at most {original['amount_cents'] - refunded} cents remain to refund",
                          f"il reste au plus {original['amount_cents'] - refunded} centimes à rembourser")
        if not (reason or "").strip():
            raise Invalid("a refund needs a reason", "un remboursement doit être motivé")
        with self.session.terminal.writing() as w:
            seq, number = self._next_receipt()
            data = {"id": self.session.terminal.new_id(), "case_id": original["case_id"], "amount_cents": amount_cents,
                    "method": original["method"], "refund_of": payment_id, "reason": reason.strip()[:500],
                    "receipt_seq": seq, "receipt_number": number}
            w.record(who, "payment.refunded", f"case:{original['case_id']}", data)
        return self.get(data["id"])

    def get(self, payment_id: str) -> dict[str, Any]:
        with self.session.cases.probe(payment_id):  # a kiosk cannot tell "not yours" from "no such payment"
            rows = row_dicts(self.session.conn.execute("SELECT * FROM payments WHERE id=?", (payment_id,)))
            if not rows:
                raise NotFound(f"no payment {payment_id}", f"aucun paiement {payment_id}")
            case = self.session.conn.execute("SELECT citizen_id FROM cases WHERE id=?", (rows[0]["case_id"],)).fetchone()
            self.session.principal.require("case.read", case_id=rows[0]["case_id"], citizen_id=case and case[0])
        return rows[0]

    def by_receipt(self, receipt_number: str) -> dict[str, Any]:
        """A payment or refund by the number printed on its receipt."""
        row = self.session.conn.execute("SELECT id FROM payments WHERE receipt_number=?",
                                        (str(receipt_number).strip().upper(),)).fetchone()
        if row is None:
            raise NotFound(f"no receipt {receipt_number} (numbers look like MAIRIE-01-000042)",
                           f"aucun reçu {receipt_number} (les numéros sont de la forme MAIRIE-01-000042)")
        return self.get(row[0])

    def duplicate(self, payment_id: str) -> dict[str, Any]:
        """Record that a copy of a receipt is printed: a duplicate is marked
        DUPLICATA and numbered, and the journal says who printed it and when, so a
        second original can never circulate. Returns ``{payment_id,
        receipt_number, copy}``."""
        who = self.session.principal
        who.require("payment.write")
        payment = self.get(payment_id)
        with self.session.terminal.writing() as w:
            done = self.session.conn.execute(
                "SELECT count(*) FROM events WHERE type='receipt.duplicated' AND aggregate=?"
                " AND json_extract(data, '$.payment_id')=?", (f"case:{payment['case_id']}", payment_id)).fetchone()[0]
            data = {"payment_id": payment_id, "receipt_number": payment["receipt_number"], "copy": done + 1}
            w.record(who, "receipt.duplicated", f"case:{payment['case_id']}", data)
        return data

    def for_citizen(self, citizen_id: str) -> list[dict[str, Any]]:
        self.session.principal.require("case.read", citizen_id=citizen_id)
        return row_dicts(self.session.conn.execute(
            "SELECT p.* FROM payments p JOIN cases c ON c.id = p.case_id"
            f" WHERE c.citizen_id IN ({MERGED_UNDER}) ORDER BY p.hlc DESC",
            (citizen_id,)))
