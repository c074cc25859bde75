-- The permissions a user holds: through their role's group (member or not), their other groups,
-- or granted to them directly; as "app_label", "codename" rows. The tables are the models' own.
SELECT ct.app_label, p.codename FROM {permission} p
JOIN {content_type} ct ON ct.id = p.content_type_id
WHERE p.id IN (SELECT gp.permission_id FROM {group_permissions} gp
               WHERE gp.group_id IN (SELECT ug.group_id FROM {user_groups} ug WHERE ug.user_id = %(user)s)
                  OR gp.group_id IN (SELECT r.group_id FROM {role} r
                                     JOIN {user} u ON u.role_id = r.id WHERE u.id = %(user)s))
   OR p.id IN (SELECT up.permission_id FROM {user_permissions} up WHERE up.user_id = %(user)s)
