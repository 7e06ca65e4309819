"""The applicant quiz: scored automatically, one attempt per 24 hours, score shown to ops."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from workers.models import AssessmentAttempt, AssessmentQuestion


def right_answers(wrong: int = 0) -> dict[str, int]:
    answers = {}
    for index, question in enumerate(AssessmentQuestion.objects.filter(active=True)):
        answers[str(question.pk)] = question.correct_choice if index >= wrong else (question.correct_choice + 1) % len(
            question.choices)
    return answers


def test_applicant_sees_questions_without_answers(client_for, worker_factory):
    applicant = worker_factory(status="applied")

    body = client_for(applicant.user).get("/api/v1/workers/me/assessment/").json()

    assert len(body["questions"]) == 5
    assert set(body["questions"][0]) == {"id", "prompt", "choices"}
    assert (body["last_attempt"], body["can_take"]) == (None, True)


def test_attempt_is_scored_and_shown_to_ops(client_for, worker_factory, ops_client):
    applicant = worker_factory(status="applied")

    response = client_for(applicant.user).post("/api/v1/workers/me/assessment/", {"answers": right_answers(wrong=1)},
                                               format="json")

    assert response.status_code == 201
    assert (response.json()["score"], response.json()["correct"], response.json()["total"]) == (80.0, 4, 5)
    assert ops_client.get(f"/api/v1/workers/{applicant.pk}/").json()["assessment_score"] == 80.0


def test_one_attempt_per_day(client_for, worker_factory):
    applicant = worker_factory(status="applied")
    client = client_for(applicant.user)
    client.post("/api/v1/workers/me/assessment/", {"answers": right_answers(wrong=2)}, format="json")

    again = client.post("/api/v1/workers/me/assessment/", {"answers": right_answers()}, format="json")

    assert again.status_code == 409
    assert again.json()["code"] == "attempt_too_soon"
    applicant.refresh_from_db()
    assert applicant.assessment_score == Decimal("60.00")
    assert AssessmentAttempt.objects.count() == 1
    AssessmentAttempt.objects.update(submitted_at=timezone.now() - dt.timedelta(hours=24, minutes=1))
    assert client.post("/api/v1/workers/me/assessment/", {"answers": right_answers()}, format="json").status_code == 201


def test_every_question_must_be_answered(client_for, worker_factory):
    applicant = worker_factory(status="applied")
    answers = right_answers()
    missing = next(iter(answers))
    del answers[missing]

    response = client_for(applicant.user).post("/api/v1/workers/me/assessment/", {"answers": answers}, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [f"answers.{missing}"]
    assert not AssessmentAttempt.objects.exists()


def test_approved_workers_do_not_take_the_quiz(worker_client):
    response = worker_client.post("/api/v1/workers/me/assessment/", {"answers": right_answers()}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "assessment_closed"
