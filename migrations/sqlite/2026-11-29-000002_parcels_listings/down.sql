DROP TABLE counters;
DROP TABLE listing_parcels;
DROP TABLE listings;
DROP TABLE parcels;
