"""Planning studies: capacity, battery sizing, growth, N-1 contingency, scenario sweeps and their
reports.
"""
