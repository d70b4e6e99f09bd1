from tests.conftest import make_tenant, platform_admin, tenant_a, tenant_b  # noqa: F401
