def navigation(request):
    """The role of the signed-in user, so the base template can show the right navigation."""
    user = getattr(request, "user", None)
    role = getattr(user, "role", None) if user is not None and user.is_authenticated else None
    return {"nav_role": role}
