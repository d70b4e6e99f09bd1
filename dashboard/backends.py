from django.contrib.auth.backends import ModelBackend, UserModel


class PasswordBackend(ModelBackend):
    """Email + password login. Permissions come from roles (dashboard/rules.py via django-rules), never
    from Django's per-user permission tables, so this backend answers no permission question (and
    costs no permission queries)."""

    def get_user(self, user_id):
        """The session's user with its membership (and the membership's reseller, merchant and
        store) in the same query: every page reads the membership for its scope, so a logged-in
        request costs one query for the user instead of two."""
        users = UserModel._default_manager.select_related(
            "membership_row__reseller",
            "membership_row__merchant",
            # A cashier's organisation (every page's menu) is its store, named with its merchant.
            "membership_row__store__merchant",
        ).filter(pk=user_id)
        # `[:1]`, not `.first()`: no ORDER BY to compile for a primary-key read (every request).
        user = next(iter(users[:1]), None)
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_user_permissions(self, user_obj, obj=None):
        return set()

    def get_group_permissions(self, user_obj, obj=None):
        return set()

    def get_all_permissions(self, user_obj, obj=None):
        return set()

    def has_perm(self, user_obj, perm, obj=None):
        return False
