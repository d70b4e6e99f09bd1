from django.contrib.auth.backends import ModelBackend


class PasswordBackend(ModelBackend):
    """Email + password login. Permissions come from roles (dashboard/rules.py via django-rules), never
    from Django's per-user permission tables, so this backend answers no permission question (and
    costs no permission queries)."""

    def get_user_permissions(self, user_obj, obj=None):
        return set()

    def get_group_permissions(self, user_obj, obj=None):
        return set()

    def get_all_permissions(self, user_obj, obj=None):
        return set()

    def has_perm(self, user_obj, perm, obj=None):
        return False
