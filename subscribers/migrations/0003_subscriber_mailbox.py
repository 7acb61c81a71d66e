# The mailbox key (subscribers/mailbox.py) as a column, empty until 0004 fills it; its unique
# constraint comes in 0005, once every row has its key or has been merged.

import subscribers.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('subscribers', '0002_categories_from_the_taxonomy'),
    ]

    operations = [
        migrations.AddField(
            model_name='subscriber',
            name='mailbox',
            field=subscribers.models.MailboxField(editable=False, max_length=512, null=True),
        ),
        migrations.AlterField(
            model_name='subscriber',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending confirmation'), ('active', 'Active'), ('paused', 'Paused'), ('unsubscribed', 'Unsubscribed'), ('bounced', 'Bounced'), ('complained', 'Complained'), ('merged', 'Merged (same mailbox as another subscriber)')], db_index=True, default='pending', max_length=12),
        ),
    ]
