"""The Excel bridge: customers and deals in from .xlsx/.csv (preview, then apply), and
everything a staff member may see out to one .xlsx.

reading.py turns an untrusted upload into a table of cells, columns.py maps its headers (zh_CN
and en) to fields, cells.py parses one cell, plans.py holds what an import decides per row
(and the row/column errors), customer_rows.py / deal_rows.py decide per row by natural key,
importing.py runs a whole import (preview or apply), staging.py keeps the upload in object
storage between the two steps, exporting.py writes the workbook, forms.py the staff forms.
"""
