"""Door controller and sensor ports, the simulator, the Modbus and GPIO drivers, and the driver
registry.
"""
