DROP INDEX users_staff_idx;
