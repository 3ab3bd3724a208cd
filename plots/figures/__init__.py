"""The figures plot_results.py draws, a module per family.

data reads the CSV and chooses rows, style holds what every figure shares; timing, memory,
accuracy, serving (decode), density and pattern draw the figures.
"""

import matplotlib

matplotlib.use("Agg")  # no display on benchmark machines; must precede pyplot
