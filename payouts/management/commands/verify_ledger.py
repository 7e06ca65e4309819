"""`python manage.py verify_ledger`: prove the cached balances agree with the ledger lines."""

from django.core.management.base import BaseCommand, CommandError

from payouts.ledger import ledger_verify


class Command(BaseCommand):
    help = ("Check every cached balance against the sum of its lines, that every journal "
            "transaction balances per currency, and that pending/in-transit balances match the "
            "earnings and payouts behind them. Exits non-zero on any mismatch.")

    def handle(self, *args, **options):
        report = ledger_verify()
        self.stdout.write(f"checked {report.accounts_checked} accounts, {report.lines_checked} lines")
        for account, cached, lines in report.balance_mismatches:
            self.stdout.write(f"account {account}: cached {cached} != lines {lines}")
        for txn, currency, total in report.unbalanced_transactions:
            self.stdout.write(f"transaction {txn}: {currency} lines sum to {total}")
        for line in report.currency_mismatches:
            self.stdout.write(f"line {line}: currency differs from its account")
        for worker, kind, ledger, rows in report.earning_mismatches:
            self.stdout.write(f"worker {worker} {kind}: ledger {ledger} != rows {rows}")
        if not report.ok:
            raise CommandError("the ledger does not verify")
        self.stdout.write("ledger OK")
