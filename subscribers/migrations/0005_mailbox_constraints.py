# One mailbox, one subscriber: the key is unique (and set on every row but a merged one). It
# replaces the case-insensitive unique address, which it implies.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('subscribers', '0004_fill_mailbox'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='subscriber',
            constraint=models.UniqueConstraint(fields=('mailbox',), name='subscriber_mailbox_unique'),
        ),
        migrations.AddConstraint(
            model_name='subscriber',
            constraint=models.CheckConstraint(condition=models.Q(('mailbox__isnull', False), ('status', 'merged'), _connector='OR'), name='subscriber_mailbox_set'),
        ),
        migrations.RemoveConstraint(
            model_name='subscriber',
            name='subscriber_email_ci_unique',
        ),
    ]
