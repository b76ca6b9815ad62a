"""Hardware ports (doors, sensors, camera, decoder), simulators and real drivers.

Leaf package: it imports nothing of ours.
"""
