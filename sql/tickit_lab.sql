-- The Redshift lab (TICKIT), as the getting-started guide writes it: the DDL, the COPY commands
-- (their s3://<myBucket>/tickit/ paths replaced by the embedded sample's files; the credentials and
-- region clauses are accepted and ignored) and the lab's queries, unchanged.
--
--   python -m engine sql -f sql/tickit_lab.sql             (from the repository root)
--
-- The tables are read in place when a query runs; nothing is copied.

create table users(userid integer not null distkey sortkey, username char(8), firstname varchar(30),
  lastname varchar(30), city varchar(30), state char(2), email varchar(100), phone char(14),
  likesports boolean, liketheatre boolean, likeconcerts boolean, likejazz boolean,
  likeclassical boolean, likeopera boolean, likerock boolean, likevegas boolean,
  likebroadway boolean, likemusicals boolean);
create table venue(venueid smallint not null distkey sortkey, venuename varchar(100),
  venuecity varchar(30), venuestate char(2), venueseats integer);
create table category(catid smallint not null distkey sortkey, catgroup varchar(10),
  catname varchar(10), catdesc varchar(50));
create table date(dateid smallint not null distkey sortkey, caldate date not null,
  day character(3) not null, week smallint not null, month character(5) not null,
  qtr character(5) not null, year smallint not null, holiday boolean default('N'));
create table event(eventid integer not null distkey, venueid smallint not null,
  catid smallint not null, dateid smallint not null sortkey, eventname varchar(200),
  starttime timestamp);
create table listing(listid integer not null distkey, sellerid integer not null,
  eventid integer not null, dateid smallint not null sortkey, numtickets smallint not null,
  priceperticket decimal(8,2), totalprice decimal(8,2), listtime timestamp);
create table sales(salesid integer not null, listid integer not null distkey,
  sellerid integer not null, buyerid integer not null, eventid integer not null,
  dateid smallint not null sortkey, qtysold smallint not null, pricepaid decimal(8,2),
  commission decimal(8,2), saletime timestamp);

copy users from 'data/sample/tickit/allusers_pipe.txt' credentials 'aws_iam_role=arn:aws:iam::123456789012:role/myRedshiftRole' delimiter '|' region 'us-east-1';
copy venue from 'data/sample/tickit/venue_pipe.txt' credentials 'aws_iam_role=arn:aws:iam::123456789012:role/myRedshiftRole' delimiter '|' region 'us-east-1';
copy category from 'data/sample/tickit/category_pipe.txt' credentials 'aws_iam_role=arn:aws:iam::123456789012:role/myRedshiftRole' delimiter '|' region 'us-east-1';
copy date from 'data/sample/tickit/date2008_pipe.txt' credentials 'aws_iam_role=arn:aws:iam::123456789012:role/myRedshiftRole' delimiter '|' region 'us-east-1';
copy event from 'data/sample/tickit/allevents_pipe.txt' credentials 'aws_iam_role=arn:aws:iam::123456789012:role/myRedshiftRole' delimiter '|' timeformat 'YYYY-MM-DD HH:MI:SS' region 'us-east-1';
copy listing from 'data/sample/tickit/listings_pipe.txt' credentials 'aws_iam_role=arn:aws:iam::123456789012:role/myRedshiftRole' delimiter '|' region 'us-east-1';
copy sales from 'data/sample/tickit/sales_tab.txt' credentials 'aws_iam_role=arn:aws:iam::123456789012:role/myRedshiftRole' delimiter '\t' timeformat 'MM/DD/YYYY HH:MI:SS' region 'us-east-1';

-- The challenge
SELECT firstname, lastname FROM users WHERE liketheatre AND likeclassical AND lastname = 'Smith';

-- Find total sales on a given calendar date.
SELECT sum(qtysold) FROM sales, date WHERE sales.dateid = date.dateid AND caldate = '2008-01-05';

-- Find top 10 buyers by quantity.
SELECT firstname, lastname, total_quantity
FROM (SELECT buyerid, sum(qtysold) total_quantity FROM sales
      GROUP BY buyerid ORDER BY total_quantity desc limit 10) Q, users
WHERE Q.buyerid = userid ORDER BY Q.total_quantity desc;

-- Find events in the 99.9 percentile in terms of all time gross sales.
SELECT eventname, total_price
FROM (SELECT eventid, total_price, ntile(1000) over(order by total_price desc) as percentile
      FROM (SELECT eventid, sum(pricepaid) total_price FROM sales GROUP BY eventid)) Q, event E
WHERE Q.eventid = E.eventid AND percentile = 1
ORDER BY total_price desc;
