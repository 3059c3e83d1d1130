-- Version 1 → 2: exact (decimal) line quantities and specs, weighed actuals, and the
-- completeness check's records. Columns only: nothing stored is rewritten.
ALTER TABLE order_lines ADD COLUMN quantity_exact TEXT;
ALTER TABLE order_lines ADD COLUMN spec TEXT;
ALTER TABLE order_lines ADD COLUMN real_quantity TEXT;
ALTER TABLE order_lines ADD COLUMN real_amount_minor INTEGER;
ALTER TABLE sync_state ADD COLUMN incomplete TEXT;
ALTER TABLE sync_runs ADD COLUMN shortfall TEXT;
