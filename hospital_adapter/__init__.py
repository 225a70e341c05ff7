"""Hospital adapter: turns what hospitals send into canonical prescriptions; knows nothing of couriers."""
