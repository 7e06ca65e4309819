def navigation(request):
    """The role of the signed-in user and, for a worker, their status (an applicant's navigation
    offers only what they can use), so the base template shows the right navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_role": None, "nav_worker_status": None}
    role = getattr(user, "role", None)
    status = None
    if role == "worker":
        # The worker profile through the user's one-to-one relation (the kernel imports no app).
        profile = getattr(user, "worker", None)
        status = getattr(profile, "status", None)
    return {"nav_role": role, "nav_worker_status": status}
