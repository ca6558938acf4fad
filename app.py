"""chainscan dashboard: `streamlit run app.py` (everything runs on this computer)."""

from chainscan.ui import main

main()
