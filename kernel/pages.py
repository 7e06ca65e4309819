"""The portal shell: logout. (Signing in: kernel/accounts/pages.py. `/` is workers.pages.landing:
where each person starts depends on their role and worker status, which the kernel does not know.)"""

from django.contrib.auth import views as auth_views


class LogoutView(auth_views.LogoutView):
    pass
