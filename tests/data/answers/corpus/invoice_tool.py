"""Late fees for unpaid invoices.

Our terms: an invoice is due 30 days after it is issued. After a grace period of 14 days past
the due date, a late fee of 1.5 percent of the outstanding amount is added for each started
month. The fee is capped at 10 percent of the invoice total.
"""

from dataclasses import dataclass
from datetime import date

GRACE_PERIOD_DAYS = 14
MONTHLY_LATE_FEE = 0.015
MAX_FEE_SHARE = 0.10
PAYMENT_TERMS_DAYS = 30


@dataclass
class Invoice:
    number: str
    issued: date
    total: float
    paid: float = 0.0

    @property
    def outstanding(self) -> float:
        return round(self.total - self.paid, 2)


def late_fee(invoice: Invoice, today: date) -> float:
    """The late fee owed on `invoice` as of `today`, rounded to cents."""
    days_late = (today - invoice.issued).days - PAYMENT_TERMS_DAYS - GRACE_PERIOD_DAYS
    if days_late <= 0 or invoice.outstanding <= 0:
        return 0.0
    months = -(-days_late // 30)  # every started month counts
    fee = invoice.outstanding * MONTHLY_LATE_FEE * months
    return round(min(fee, invoice.total * MAX_FEE_SHARE), 2)
