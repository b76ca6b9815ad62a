"""Pure rules: order lifecycle, door assignment, attempt budget, policy table, KPIs. No I/O."""
