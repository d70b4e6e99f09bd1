"""Statistics on the expressions the fleet search compares (`UPPER(col) LIKE UPPER('%…%')`, Django's
icontains on PostgreSQL). Without them the planner guesses a search matches a handful of rows, joins
merchants in a nested loop over every row, and a 10,000-terminal search takes 100 ms instead of 3 ms.
Expression statistics need PostgreSQL 14 or newer."""

from django.db import migrations

COLUMNS = ("name", "serial_number", "provider_ref")


class Migration(migrations.Migration):
    dependencies = [("terminals", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql="CREATE STATISTICS IF NOT EXISTS terminal_search_stats ON "
            + ", ".join(f"(upper({column}::text))" for column in COLUMNS)
            + " FROM terminals_terminal",
            reverse_sql="DROP STATISTICS IF EXISTS terminal_search_stats",
        ),
    ]
