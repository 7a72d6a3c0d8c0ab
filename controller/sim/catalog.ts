/**
 * The product catalogue the fleet generator draws from. Field shapes follow Apple's real device
 * records (dep-protocol.md §5 and apple-samples/device_response.json): `model` is the marketing name,
 * `description` is upper-case order text, `color` is upper case, and `device_family`/`os` agree.
 */

/** One orderable product line with its marketing texts. */
export interface CatalogEntry {
  family: 'iPad' | 'iPhone' | 'Mac' | 'AppleTV' | 'Vision';
  /** The os reported from protocol v7 on (iPads report `iOS` before v7). */
  os: 'iPadOS' | 'iOS' | 'OSX' | 'tvOS' | 'visionOS';
  model: string;
  /** Order descriptions; `{C}` is replaced by the colour. */
  descriptions: readonly string[];
  colors: readonly string[];
  /** Relative share of the fleet. */
  weight: number;
  /** Whether the device has a cellular radio (IMEI/EID in protocol v10). */
  cellular: boolean;
  /** Whether the device has an Ethernet port. */
  ethernet: boolean;
}

const MAC_COLORS = ['SPACE GRAY', 'SILVER', 'MIDNIGHT', 'STARLIGHT'] as const;

/**
 * A school-and-company mix: iPads and Macs dominate, then iPhones, with a few Apple TVs for meeting
 * rooms and a handful of Vision Pro headsets.
 */
export const CATALOG: readonly CatalogEntry[] = [
  { family: 'iPad', os: 'iPadOS', model: 'iPad (10th generation)', descriptions: ['IPAD WI-FI 64GB {C}', 'IPAD WI-FI 256GB {C}'], colors: ['SILVER', 'BLUE', 'PINK', 'YELLOW'], weight: 22, cellular: false, ethernet: false },
  { family: 'iPad', os: 'iPadOS', model: 'iPad (9th generation)', descriptions: ['IPAD WI-FI 64GB {C}'], colors: ['SPACE GRAY', 'SILVER'], weight: 8, cellular: false, ethernet: false },
  { family: 'iPad', os: 'iPadOS', model: 'iPad Air 11-inch (M2)', descriptions: ['IPAD AIR 11 WI-FI 128GB {C}', 'IPAD AIR 11 WI-FI + CELLULAR 256GB {C}'], colors: ['SPACE GRAY', 'STARLIGHT', 'PURPLE', 'BLUE'], weight: 5, cellular: true, ethernet: false },
  { family: 'iPad', os: 'iPadOS', model: 'iPad mini (A17 Pro)', descriptions: ['IPAD MINI WI-FI 128GB {C}'], colors: ['SPACE GRAY', 'STARLIGHT', 'PURPLE', 'BLUE'], weight: 3, cellular: false, ethernet: false },
  { family: 'iPad', os: 'iPadOS', model: 'iPad Pro 11-inch (M4)', descriptions: ['IPAD PRO 11 WI-FI 256GB {C}', 'IPAD PRO 11 WI-FI + CELLULAR 512GB {C}'], colors: ['SPACE BLACK', 'SILVER'], weight: 2, cellular: true, ethernet: false },
  { family: 'iPhone', os: 'iOS', model: 'iPhone 15', descriptions: ['IPHONE 15 128GB {C}', 'IPHONE 15 256GB {C}'], colors: ['BLACK', 'BLUE', 'GREEN', 'YELLOW', 'PINK'], weight: 12, cellular: true, ethernet: false },
  { family: 'iPhone', os: 'iOS', model: 'iPhone 16', descriptions: ['IPHONE 16 128GB {C}'], colors: ['BLACK', 'WHITE', 'PINK', 'TEAL', 'ULTRAMARINE'], weight: 9, cellular: true, ethernet: false },
  { family: 'iPhone', os: 'iOS', model: 'iPhone 16 Pro', descriptions: ['IPHONE 16 PRO 256GB {C}'], colors: ['BLACK TITANIUM', 'WHITE TITANIUM', 'NATURAL TITANIUM', 'DESERT TITANIUM'], weight: 5, cellular: true, ethernet: false },
  { family: 'iPhone', os: 'iOS', model: 'iPhone SE (3rd generation)', descriptions: ['IPHONE SE 64GB {C}'], colors: ['MIDNIGHT', 'STARLIGHT', 'RED'], weight: 4, cellular: true, ethernet: false },
  { family: 'Mac', os: 'OSX', model: 'MacBook Air', descriptions: ['MBA 13.6 {C}/M2/8GB/256GB-USA', 'MBA 13.6 {C}/M3/16GB/512GB-USA', 'MBA 15.3 {C}/M3/16GB/512GB-USA'], colors: MAC_COLORS, weight: 14, cellular: false, ethernet: false },
  { family: 'Mac', os: 'OSX', model: 'MacBook Pro', descriptions: ['MBP 14.2 {C}/M3 PRO/18GB/512GB-USA', 'MBP 16.2 {C}/M3 MAX/36GB/1TB-USA', 'MBP 13.3 {C}/2.0GHZ/8GB/256GB-USA'], colors: ['SPACE BLACK', 'SILVER', 'SPACE GRAY'], weight: 9, cellular: false, ethernet: false },
  { family: 'Mac', os: 'OSX', model: 'iMac', descriptions: ['IMAC 24 {C}/M3/8GB/256GB-USA'], colors: ['BLUE', 'GREEN', 'PINK', 'SILVER', 'YELLOW', 'ORANGE', 'PURPLE'], weight: 3, cellular: false, ethernet: true },
  { family: 'Mac', os: 'OSX', model: 'Mac mini', descriptions: ['MAC MINI {C}/M2/8GB/256GB-USA'], colors: ['SILVER'], weight: 2, cellular: false, ethernet: true },
  { family: 'AppleTV', os: 'tvOS', model: 'Apple TV 4K', descriptions: ['APPLE TV 4K WI-FI + ETHERNET 128GB {C}'], colors: ['BLACK'], weight: 1.5, cellular: false, ethernet: true },
  { family: 'Vision', os: 'visionOS', model: 'Apple Vision Pro', descriptions: ['APPLE VISION PRO 256GB {C}'], colors: ['SILVER'], weight: 0.5, cellular: false, ethernet: false },
];

/** Cumulative weights of CATALOG for weighted picks. */
export const CATALOG_CUMULATIVE: readonly number[] = CATALOG.reduce<number[]>((acc, e) => {
  acc.push((acc[acc.length - 1] ?? 0) + e.weight);
  return acc;
}, []);

/** Apple serial prefixes (manufacturing location codes seen on real devices). */
export const SERIAL_PREFIXES = ['C02', 'C07', 'F9F', 'DMP', 'DLX', 'FVF', 'G0N', 'H4T', 'GG7', 'DMQ'] as const;

/** The characters of Apple's 12-character serials: digits and capitals without I and O. */
export const SERIAL_ALPHABET = '0123456789ABCDEFGHJKLMNPQRSTUVWXYZ';
