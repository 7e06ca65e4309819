from django.db import migrations

QUESTIONS = [
    ("A customer writes in all caps that they were charged twice. What do you do first?",
     ["Tell them to calm down", "Acknowledge the problem and ask for the order reference",
      "Transfer the chat immediately", "Refund both charges straight away"], 1),
    ("A customer asks for a refund outside the refund window. What is the best answer?",
     ["Refund anyway to keep them happy", "Ignore the request",
      "Explain the policy kindly and offer the options that remain", "Close the chat"], 2),
    ("You do not know the answer to a question. What do you do?",
     ["Guess confidently", "Say you will check, look it up or transfer to a colleague who knows",
      "Tell the customer to search the website", "End the chat"], 1),
    ("A customer shares their full card number in the chat. What do you do?",
     ["Repeat it back to confirm", "Ask them not to share card details and continue without them",
      "Save it in a note for later", "Ask for the CVC too"], 1),
    ("Your shift ends while you are in the middle of a chat. What do you do?",
     ["Leave without a word", "Wrap up or hand the chat over with a short internal note",
      "Tell the customer to come back tomorrow", "Mark it resolved"], 1),
]


def seed(apps, schema_editor):
    Question = apps.get_model("workers", "AssessmentQuestion")
    if Question.objects.exists():
        return
    for position, (prompt, choices, correct) in enumerate(QUESTIONS):
        Question.objects.create(prompt=prompt, choices=choices, correct_choice=correct, position=position)


class Migration(migrations.Migration):
    dependencies = [("workers", "0003_shift_events_waitlist_assessment")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
