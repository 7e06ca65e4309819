"""A Celery task for transport tests: it appends its key to the file named by PROBE_FILE."""

import os

from celery import shared_task


@shared_task(name="tests.probe_record", acks_late=True)
def probe_record(key: str) -> None:
    descriptor = os.open(os.environ["PROBE_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, f"{key}\n".encode())
    finally:
        os.close(descriptor)
