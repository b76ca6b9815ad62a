"""The camera ports (scan camera, compartment camera), their simulators, OpenCV capture and the
scanner.
"""
